-- SPDX-License-Identifier: MIT
-- schema_v1.sql: the PostgreSQL schema of version 1, exactly as libstreamy created it
-- before the decision functions answered in lib/stores/answer.h's order; check_pg.c
-- makes it (@S@: the quoted schema name) to test the migration to the current version.
CREATE SCHEMA IF NOT EXISTS @S@;
COMMENT ON SCHEMA @S@ IS 'Streamy: per-user stream leases (libstreamy)';
CREATE TABLE @S@.schema_version (version integer NOT NULL);
CREATE TABLE @S@.users (
  user_id text COLLATE "C" PRIMARY KEY,
  max_streams integer CHECK (max_streams >= 0)
);
CREATE TABLE @S@.leases (
  user_id text COLLATE "C" NOT NULL,
  stream_id text COLLATE "C" NOT NULL,
  since_ms bigint NOT NULL,
  renewed_ms bigint NOT NULL,
  expires_ms bigint NOT NULL,
  PRIMARY KEY (user_id, stream_id)
);
CREATE INDEX leases_expiry ON @S@.leases (expires_ms) WHERE expires_ms > 0;
CREATE FUNCTION @S@.now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
CREATE FUNCTION @S@.acquire(p_user text, p_stream text, p_now bigint, p_ttl bigint,
    p_limit integer, p_policy integer, p_shadow boolean,
    OUT rc integer, OUT created boolean, OUT removed boolean, OUT active integer,
    OUT lim integer, OUT since bigint, OUT expires bigint, OUT retry bigint,
    OUT expired integer, OUT evicted text, OUT shadow_refused boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_now bigint; v_exp bigint; v_since bigint; v_max integer;
BEGIN
  LOOP
    PERFORM FROM @S@.users u WHERE u.user_id = p_user FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO @S@.users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  END LOOP;
  v_now := coalesce(p_now, @S@.now_ms());
  rc := 0; created := false; removed := false; active := 0; lim := 0; since := 0;
  expires := 0; retry := 0; expired := 0; shadow_refused := false;
  <<acq>>
  BEGIN
    v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
    SELECT (SELECT u.max_streams FROM @S@.users u WHERE u.user_id = p_user),
           count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
           count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
           max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                     AND (l.expires_ms = 0 OR l.expires_ms > v_now))
      INTO v_max, active, expired, v_since
      FROM @S@.leases l WHERE l.user_id = p_user;
    lim := coalesce(v_max, p_limit);
    IF expired > 0 THEN
      DELETE FROM @S@.leases l
       WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
      GET DIAGNOSTICS expired = ROW_COUNT;
    END IF;
    IF v_since IS NOT NULL THEN
      UPDATE @S@.leases l SET renewed_ms = v_now, expires_ms = v_exp
       WHERE l.user_id = p_user AND l.stream_id = p_stream;
      since := v_since; expires := v_exp;
      EXIT acq;
    END IF;
    IF active >= lim THEN
      IF p_policy <> 0 AND lim > 0 AND active = lim THEN
        DELETE FROM @S@.leases l WHERE l.user_id = p_user AND l.stream_id = (
            SELECT v.stream_id FROM @S@.leases v WHERE v.user_id = p_user
             ORDER BY CASE WHEN p_policy = 1 THEN v.since_ms ELSE v.renewed_ms END,
                      v.stream_id
             LIMIT 1)
        RETURNING l.stream_id INTO evicted;
        active := active - 1;
      ELSIF p_shadow THEN
        shadow_refused := true;
      ELSE
        IF lim > 0 THEN
          SELECT l.expires_ms INTO retry FROM @S@.leases l
           WHERE l.user_id = p_user AND l.expires_ms > v_now
           ORDER BY l.expires_ms OFFSET active - lim LIMIT 1;
        END IF;
        rc := 1; retry := coalesce(retry, 0);
        EXIT acq;
      END IF;
    END IF;
    INSERT INTO @S@.leases (user_id, stream_id, since_ms, renewed_ms, expires_ms)
    VALUES (p_user, p_stream, v_now, v_now, v_exp);
    created := true; active := active + 1; since := v_now; expires := v_exp;
  END acq;
END $$;
CREATE FUNCTION @S@.renew(p_user text, p_stream text, p_now bigint, p_ttl bigint,
    p_limit integer,
    OUT rc integer, OUT created boolean, OUT removed boolean, OUT active integer,
    OUT lim integer, OUT since bigint, OUT expires bigint, OUT retry bigint,
    OUT expired integer, OUT evicted text, OUT shadow_refused boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_now bigint; v_exp bigint; v_since bigint; v_max integer;
BEGIN
  LOOP
    PERFORM FROM @S@.users u WHERE u.user_id = p_user FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO @S@.users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  END LOOP;
  v_now := coalesce(p_now, @S@.now_ms());
  rc := 0; created := false; removed := false; active := 0; lim := 0; since := 0;
  expires := 0; retry := 0; expired := 0; shadow_refused := false;
  <<ren>>
  BEGIN
    v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
    SELECT (SELECT u.max_streams FROM @S@.users u WHERE u.user_id = p_user),
           count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
           count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
           max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                     AND (l.expires_ms = 0 OR l.expires_ms > v_now))
      INTO v_max, active, expired, v_since
      FROM @S@.leases l WHERE l.user_id = p_user;
    lim := coalesce(v_max, p_limit);
    IF expired > 0 THEN
      DELETE FROM @S@.leases l
       WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
      GET DIAGNOSTICS expired = ROW_COUNT;
    END IF;
    IF v_since IS NULL THEN
      rc := 2;
      EXIT ren;
    END IF;
    UPDATE @S@.leases l SET renewed_ms = v_now, expires_ms = v_exp
     WHERE l.user_id = p_user AND l.stream_id = p_stream;
    since := v_since; expires := v_exp;
  END ren;
END $$;
CREATE FUNCTION @S@.apply(p_kinds integer[], p_users text[], p_streams text[],
    p_now bigint, p_ttl bigint, p_limit integer, p_policy integer, p_shadow boolean)
RETURNS TABLE (rc integer, created boolean, removed boolean, active integer,
    lim integer, since bigint, expires bigint, retry bigint, expired integer,
    evicted text, shadow_refused boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_users text[]; v_now bigint; v_exp bigint; v_since bigint;
  v_max integer; v_e bigint; i integer; p_user text; p_stream text;
BEGIN
  SELECT array_agg(d.u ORDER BY d.u) INTO v_users
    FROM (SELECT DISTINCT x COLLATE "C" AS u FROM unnest(p_users) x) d;
  FOREACH p_user IN ARRAY coalesce(v_users, '{}') LOOP
    LOOP
    PERFORM FROM @S@.users u WHERE u.user_id = p_user FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO @S@.users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  END LOOP;
  END LOOP;
  v_now := coalesce(p_now, @S@.now_ms());
  FOR i IN 1 .. coalesce(cardinality(p_kinds), 0) LOOP
    p_user := p_users[i]; p_stream := p_streams[i];
    rc := 0; created := false; removed := false; active := 0; lim := 0; since := 0;
    expires := 0; retry := 0; expired := 0; evicted := NULL; shadow_refused := false;
    IF p_kinds[i] = 1 THEN
      <<acq>>
  BEGIN
    v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
    SELECT (SELECT u.max_streams FROM @S@.users u WHERE u.user_id = p_user),
           count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
           count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
           max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                     AND (l.expires_ms = 0 OR l.expires_ms > v_now))
      INTO v_max, active, expired, v_since
      FROM @S@.leases l WHERE l.user_id = p_user;
    lim := coalesce(v_max, p_limit);
    IF expired > 0 THEN
      DELETE FROM @S@.leases l
       WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
      GET DIAGNOSTICS expired = ROW_COUNT;
    END IF;
    IF v_since IS NOT NULL THEN
      UPDATE @S@.leases l SET renewed_ms = v_now, expires_ms = v_exp
       WHERE l.user_id = p_user AND l.stream_id = p_stream;
      since := v_since; expires := v_exp;
      EXIT acq;
    END IF;
    IF active >= lim THEN
      IF p_policy <> 0 AND lim > 0 AND active = lim THEN
        DELETE FROM @S@.leases l WHERE l.user_id = p_user AND l.stream_id = (
            SELECT v.stream_id FROM @S@.leases v WHERE v.user_id = p_user
             ORDER BY CASE WHEN p_policy = 1 THEN v.since_ms ELSE v.renewed_ms END,
                      v.stream_id
             LIMIT 1)
        RETURNING l.stream_id INTO evicted;
        active := active - 1;
      ELSIF p_shadow THEN
        shadow_refused := true;
      ELSE
        IF lim > 0 THEN
          SELECT l.expires_ms INTO retry FROM @S@.leases l
           WHERE l.user_id = p_user AND l.expires_ms > v_now
           ORDER BY l.expires_ms OFFSET active - lim LIMIT 1;
        END IF;
        rc := 1; retry := coalesce(retry, 0);
        EXIT acq;
      END IF;
    END IF;
    INSERT INTO @S@.leases (user_id, stream_id, since_ms, renewed_ms, expires_ms)
    VALUES (p_user, p_stream, v_now, v_now, v_exp);
    created := true; active := active + 1; since := v_now; expires := v_exp;
  END acq;
    ELSIF p_kinds[i] = 2 THEN
      DELETE FROM @S@.leases l WHERE l.user_id = p_user AND l.stream_id = p_stream
        RETURNING l.expires_ms INTO v_e;
      IF FOUND THEN
        IF v_e = 0 OR v_e > v_now THEN removed := true; ELSE expired := 1; END IF;
      END IF;
    ELSE
      <<ren>>
  BEGIN
    v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
    SELECT (SELECT u.max_streams FROM @S@.users u WHERE u.user_id = p_user),
           count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
           count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
           max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                     AND (l.expires_ms = 0 OR l.expires_ms > v_now))
      INTO v_max, active, expired, v_since
      FROM @S@.leases l WHERE l.user_id = p_user;
    lim := coalesce(v_max, p_limit);
    IF expired > 0 THEN
      DELETE FROM @S@.leases l
       WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
      GET DIAGNOSTICS expired = ROW_COUNT;
    END IF;
    IF v_since IS NULL THEN
      rc := 2;
      EXIT ren;
    END IF;
    UPDATE @S@.leases l SET renewed_ms = v_now, expires_ms = v_exp
     WHERE l.user_id = p_user AND l.stream_id = p_stream;
    since := v_since; expires := v_exp;
  END ren;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
CREATE FUNCTION @S@.purge(p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_now bigint := coalesce(p_now, @S@.now_ms()); v_n bigint; v_users text[];
  v_user text;
BEGIN
  WITH gone AS (DELETE FROM @S@.leases l
      WHERE l.expires_ms > 0 AND l.expires_ms <= v_now RETURNING l.user_id)
  SELECT count(*), array_agg(DISTINCT g.user_id) INTO v_n, v_users FROM gone g;
  FOREACH v_user IN ARRAY coalesce(v_users, '{}') LOOP
    DELETE FROM @S@.users u WHERE u.user_id = v_user AND u.max_streams IS NULL
       AND NOT EXISTS (SELECT 1 FROM @S@.leases l WHERE l.user_id = v_user)
       AND u.user_id IN (SELECT x.user_id FROM @S@.users x
                          WHERE x.user_id = v_user FOR UPDATE SKIP LOCKED);
  END LOOP;
  RETURN v_n;
END $$;
INSERT INTO @S@.schema_version (version) VALUES (1);
