-- SPDX-License-Identifier: MIT
-- fixture-0.2.0.sql: pg_dump --inserts -n streamy of a database made by Streamy 0.2.0
-- (schema version 2) with leases and a limit; check_pg.c restores it to test the migration.
--
-- PostgreSQL database dump
--

\restrict GoNLkUshYtlv0OQ6O0SC7df9wLnS3C99KhprSUGrBHJKgP69LCHbIbughNehHwY

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: streamy; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA streamy;


--
-- Name: SCHEMA streamy; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA streamy IS 'Streamy: per-user stream leases (libstreamy)';


--
-- Name: acquire(text, text, bigint, bigint, integer, integer, boolean); Type: FUNCTION; Schema: streamy; Owner: -
--

CREATE FUNCTION streamy.acquire(p_user text, p_stream text, p_now bigint, p_ttl bigint, p_limit integer, p_policy integer, p_shadow boolean, OUT rc integer, OUT created boolean, OUT removed boolean, OUT shadow_refused boolean, OUT active integer, OUT lim integer, OUT expired integer, OUT since bigint, OUT expires bigint, OUT retry bigint, OUT evicted text) RETURNS record
    LANGUAGE plpgsql
    AS $$
DECLARE
  -- The values of include/streamy.h: results (rc), policies (p_policy) and the operations
  -- of a batch (p_kinds).
  RC_OK CONSTANT integer := 0;               -- STREAMY_OK
  RC_LIMIT_REACHED CONSTANT integer := 1;    -- STREAMY_LIMIT_REACHED
  RC_NOT_FOUND CONSTANT integer := 2;        -- STREAMY_NOT_FOUND
  POLICY_REJECT CONSTANT integer := 0;       -- STREAMY_POLICY_REJECT
  POLICY_EVICT_OLDEST CONSTANT integer := 1; -- STREAMY_POLICY_EVICT_OLDEST
  POLICY_EVICT_IDLE CONSTANT integer := 2;   -- STREAMY_POLICY_EVICT_IDLE
  OP_SUBSCRIBE CONSTANT integer := 1;        -- STREAMY_OP_SUBSCRIBE
  OP_UNSUBSCRIBE CONSTANT integer := 2;      -- STREAMY_OP_UNSUBSCRIBE
  OP_RENEW CONSTANT integer := 3;            -- STREAMY_OP_RENEW
  v_now bigint; v_exp bigint; v_since bigint; v_max integer;
BEGIN
  -- Lock the user's row, creating it first if there is none.
  LOOP
    PERFORM FROM "streamy".users u WHERE u.user_id = p_user FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO "streamy".users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  END LOOP;
  v_now := coalesce(p_now, "streamy".now_ms());
  rc := RC_OK; created := false; removed := false; shadow_refused := false;
  active := 0; lim := 0; expired := 0; since := 0; expires := 0; retry := 0;
  evicted := NULL;
  -- Subscribe, as include/streamy/store.h describes acquire. An evict policy removes the
  -- lease started first (oldest) or renewed least recently (idle); ties go to the
  -- smallest stream id.
  <<acq>>
  BEGIN
    -- One read of the user: the limit override, active and expired leases, and the start
    -- of the lease (p_user, p_stream) if it is active; then drop the expired ones, counting
    -- what was really deleted (a purge may have been first).
    v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
    SELECT (SELECT u.max_streams FROM "streamy".users u WHERE u.user_id = p_user),
           count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
           count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
           max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                     AND (l.expires_ms = 0 OR l.expires_ms > v_now))
      INTO v_max, active, expired, v_since
      FROM "streamy".leases l WHERE l.user_id = p_user;
    lim := coalesce(v_max, p_limit);
    IF expired > 0 THEN
      DELETE FROM "streamy".leases l
       WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
      GET DIAGNOSTICS expired = ROW_COUNT;
    END IF;
    IF v_since IS NOT NULL THEN
      UPDATE "streamy".leases l SET renewed_ms = v_now, expires_ms = v_exp
       WHERE l.user_id = p_user AND l.stream_id = p_stream;
      since := v_since; expires := v_exp;
      EXIT acq;
    END IF;
    IF active >= lim THEN
      IF p_policy <> POLICY_REJECT AND lim > 0 AND active = lim THEN
        DELETE FROM "streamy".leases l WHERE l.user_id = p_user AND l.stream_id = (
            SELECT v.stream_id FROM "streamy".leases v WHERE v.user_id = p_user
             ORDER BY CASE WHEN p_policy = POLICY_EVICT_OLDEST THEN v.since_ms
                           ELSE v.renewed_ms END,
                      v.stream_id
             LIMIT 1)
        RETURNING l.stream_id INTO evicted;
        active := active - 1;
      ELSIF p_shadow THEN
        shadow_refused := true;
      ELSE
        IF lim > 0 THEN
          -- The (active - lim + 1)-th earliest expiry: when one more fits by itself.
          SELECT l.expires_ms INTO retry FROM "streamy".leases l
           WHERE l.user_id = p_user AND l.expires_ms > v_now
           ORDER BY l.expires_ms OFFSET active - lim LIMIT 1;
        END IF;
        rc := RC_LIMIT_REACHED; retry := coalesce(retry, 0);
        EXIT acq;
      END IF;
    END IF;
    INSERT INTO "streamy".leases (user_id, stream_id, since_ms, renewed_ms, expires_ms)
    VALUES (p_user, p_stream, v_now, v_now, v_exp);
    created := true; active := active + 1; since := v_now; expires := v_exp;
  END acq;
END $$;


--
-- Name: apply(integer[], text[], text[], bigint, bigint, integer, integer, boolean); Type: FUNCTION; Schema: streamy; Owner: -
--

CREATE FUNCTION streamy.apply(p_kinds integer[], p_users text[], p_streams text[], p_now bigint, p_ttl bigint, p_limit integer, p_policy integer, p_shadow boolean, OUT rc integer, OUT created boolean, OUT removed boolean, OUT shadow_refused boolean, OUT active integer, OUT lim integer, OUT expired integer, OUT since bigint, OUT expires bigint, OUT retry bigint, OUT evicted text) RETURNS SETOF record
    LANGUAGE plpgsql
    AS $$
DECLARE
  -- The values of include/streamy.h: results (rc), policies (p_policy) and the operations
  -- of a batch (p_kinds).
  RC_OK CONSTANT integer := 0;               -- STREAMY_OK
  RC_LIMIT_REACHED CONSTANT integer := 1;    -- STREAMY_LIMIT_REACHED
  RC_NOT_FOUND CONSTANT integer := 2;        -- STREAMY_NOT_FOUND
  POLICY_REJECT CONSTANT integer := 0;       -- STREAMY_POLICY_REJECT
  POLICY_EVICT_OLDEST CONSTANT integer := 1; -- STREAMY_POLICY_EVICT_OLDEST
  POLICY_EVICT_IDLE CONSTANT integer := 2;   -- STREAMY_POLICY_EVICT_IDLE
  OP_SUBSCRIBE CONSTANT integer := 1;        -- STREAMY_OP_SUBSCRIBE
  OP_UNSUBSCRIBE CONSTANT integer := 2;      -- STREAMY_OP_UNSUBSCRIBE
  OP_RENEW CONSTANT integer := 3;            -- STREAMY_OP_RENEW
  v_users text[]; v_now bigint; v_exp bigint; v_since bigint;
  v_max integer; v_e bigint; i integer; p_user text; p_stream text;
BEGIN
  SELECT array_agg(d.u ORDER BY d.u) INTO v_users
    FROM (SELECT DISTINCT x COLLATE "C" AS u FROM unnest(p_users) x) d;
  FOREACH p_user IN ARRAY coalesce(v_users, '{}') LOOP
    -- Lock the user's row, creating it first if there is none.
    LOOP
      PERFORM FROM "streamy".users u WHERE u.user_id = p_user FOR UPDATE;
      EXIT WHEN FOUND;
      INSERT INTO "streamy".users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
    END LOOP;
  END LOOP;
  v_now := coalesce(p_now, "streamy".now_ms());
  FOR i IN 1 .. coalesce(cardinality(p_kinds), 0) LOOP
    p_user := p_users[i]; p_stream := p_streams[i];
    rc := RC_OK; created := false; removed := false; shadow_refused := false;
    active := 0; lim := 0; expired := 0; since := 0; expires := 0; retry := 0;
    evicted := NULL;
    IF p_kinds[i] = OP_SUBSCRIBE THEN
      -- Subscribe, as include/streamy/store.h describes acquire. An evict policy removes the
      -- lease started first (oldest) or renewed least recently (idle); ties go to the
      -- smallest stream id.
      <<acq>>
      BEGIN
        -- One read of the user: the limit override, active and expired leases, and the start
        -- of the lease (p_user, p_stream) if it is active; then drop the expired ones, counting
        -- what was really deleted (a purge may have been first).
        v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
        SELECT (SELECT u.max_streams FROM "streamy".users u WHERE u.user_id = p_user),
               count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
               count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
               max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                         AND (l.expires_ms = 0 OR l.expires_ms > v_now))
          INTO v_max, active, expired, v_since
          FROM "streamy".leases l WHERE l.user_id = p_user;
        lim := coalesce(v_max, p_limit);
        IF expired > 0 THEN
          DELETE FROM "streamy".leases l
           WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
          GET DIAGNOSTICS expired = ROW_COUNT;
        END IF;
        IF v_since IS NOT NULL THEN
          UPDATE "streamy".leases l SET renewed_ms = v_now, expires_ms = v_exp
           WHERE l.user_id = p_user AND l.stream_id = p_stream;
          since := v_since; expires := v_exp;
          EXIT acq;
        END IF;
        IF active >= lim THEN
          IF p_policy <> POLICY_REJECT AND lim > 0 AND active = lim THEN
            DELETE FROM "streamy".leases l WHERE l.user_id = p_user AND l.stream_id = (
                SELECT v.stream_id FROM "streamy".leases v WHERE v.user_id = p_user
                 ORDER BY CASE WHEN p_policy = POLICY_EVICT_OLDEST THEN v.since_ms
                               ELSE v.renewed_ms END,
                          v.stream_id
                 LIMIT 1)
            RETURNING l.stream_id INTO evicted;
            active := active - 1;
          ELSIF p_shadow THEN
            shadow_refused := true;
          ELSE
            IF lim > 0 THEN
              -- The (active - lim + 1)-th earliest expiry: when one more fits by itself.
              SELECT l.expires_ms INTO retry FROM "streamy".leases l
               WHERE l.user_id = p_user AND l.expires_ms > v_now
               ORDER BY l.expires_ms OFFSET active - lim LIMIT 1;
            END IF;
            rc := RC_LIMIT_REACHED; retry := coalesce(retry, 0);
            EXIT acq;
          END IF;
        END IF;
        INSERT INTO "streamy".leases (user_id, stream_id, since_ms, renewed_ms, expires_ms)
        VALUES (p_user, p_stream, v_now, v_now, v_exp);
        created := true; active := active + 1; since := v_now; expires := v_exp;
      END acq;
    ELSIF p_kinds[i] = OP_UNSUBSCRIBE THEN
      -- Unsubscribe within a batch (alone, it is a plain DELETE: Q_RELEASE in pg.c).
      DELETE FROM "streamy".leases l WHERE l.user_id = p_user AND l.stream_id = p_stream
        RETURNING l.expires_ms INTO v_e;
      IF FOUND THEN
        IF v_e = 0 OR v_e > v_now THEN removed := true; ELSE expired := 1; END IF;
      END IF;
    ELSE -- OP_RENEW
      -- Renew: extend an unexpired lease, or answer not found.
      <<ren>>
      BEGIN
        -- One read of the user: the limit override, active and expired leases, and the start
        -- of the lease (p_user, p_stream) if it is active; then drop the expired ones, counting
        -- what was really deleted (a purge may have been first).
        v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
        SELECT (SELECT u.max_streams FROM "streamy".users u WHERE u.user_id = p_user),
               count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
               count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
               max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                         AND (l.expires_ms = 0 OR l.expires_ms > v_now))
          INTO v_max, active, expired, v_since
          FROM "streamy".leases l WHERE l.user_id = p_user;
        lim := coalesce(v_max, p_limit);
        IF expired > 0 THEN
          DELETE FROM "streamy".leases l
           WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
          GET DIAGNOSTICS expired = ROW_COUNT;
        END IF;
        IF v_since IS NULL THEN
          rc := RC_NOT_FOUND;
          EXIT ren;
        END IF;
        UPDATE "streamy".leases l SET renewed_ms = v_now, expires_ms = v_exp
         WHERE l.user_id = p_user AND l.stream_id = p_stream;
        since := v_since; expires := v_exp;
      END ren;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;


--
-- Name: now_ms(); Type: FUNCTION; Schema: streamy; Owner: -
--

CREATE FUNCTION streamy.now_ms() RETURNS bigint
    LANGUAGE sql
    AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;


--
-- Name: purge(bigint); Type: FUNCTION; Schema: streamy; Owner: -
--

CREATE FUNCTION streamy.purge(p_now bigint) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_now bigint := coalesce(p_now, "streamy".now_ms()); v_n bigint; v_users text[];
  v_user text;
BEGIN
  WITH gone AS (DELETE FROM "streamy".leases l
      WHERE l.expires_ms > 0 AND l.expires_ms <= v_now RETURNING l.user_id)
  SELECT count(*), array_agg(DISTINCT g.user_id) INTO v_n, v_users FROM gone g;
  FOREACH v_user IN ARRAY coalesce(v_users, '{}') LOOP
    DELETE FROM "streamy".users u WHERE u.user_id = v_user AND u.max_streams IS NULL
       AND NOT EXISTS (SELECT 1 FROM "streamy".leases l WHERE l.user_id = v_user)
       AND u.user_id IN (SELECT x.user_id FROM "streamy".users x
                          WHERE x.user_id = v_user FOR UPDATE SKIP LOCKED);
  END LOOP;
  RETURN v_n;
END $$;


--
-- Name: renew(text, text, bigint, bigint, integer); Type: FUNCTION; Schema: streamy; Owner: -
--

CREATE FUNCTION streamy.renew(p_user text, p_stream text, p_now bigint, p_ttl bigint, p_limit integer, OUT rc integer, OUT created boolean, OUT removed boolean, OUT shadow_refused boolean, OUT active integer, OUT lim integer, OUT expired integer, OUT since bigint, OUT expires bigint, OUT retry bigint, OUT evicted text) RETURNS record
    LANGUAGE plpgsql
    AS $$
DECLARE
  -- The values of include/streamy.h: results (rc), policies (p_policy) and the operations
  -- of a batch (p_kinds).
  RC_OK CONSTANT integer := 0;               -- STREAMY_OK
  RC_LIMIT_REACHED CONSTANT integer := 1;    -- STREAMY_LIMIT_REACHED
  RC_NOT_FOUND CONSTANT integer := 2;        -- STREAMY_NOT_FOUND
  POLICY_REJECT CONSTANT integer := 0;       -- STREAMY_POLICY_REJECT
  POLICY_EVICT_OLDEST CONSTANT integer := 1; -- STREAMY_POLICY_EVICT_OLDEST
  POLICY_EVICT_IDLE CONSTANT integer := 2;   -- STREAMY_POLICY_EVICT_IDLE
  OP_SUBSCRIBE CONSTANT integer := 1;        -- STREAMY_OP_SUBSCRIBE
  OP_UNSUBSCRIBE CONSTANT integer := 2;      -- STREAMY_OP_UNSUBSCRIBE
  OP_RENEW CONSTANT integer := 3;            -- STREAMY_OP_RENEW
  v_now bigint; v_exp bigint; v_since bigint; v_max integer;
BEGIN
  -- Lock the user's row, creating it first if there is none.
  LOOP
    PERFORM FROM "streamy".users u WHERE u.user_id = p_user FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO "streamy".users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  END LOOP;
  v_now := coalesce(p_now, "streamy".now_ms());
  rc := RC_OK; created := false; removed := false; shadow_refused := false;
  active := 0; lim := 0; expired := 0; since := 0; expires := 0; retry := 0;
  evicted := NULL;
  -- Renew: extend an unexpired lease, or answer not found.
  <<ren>>
  BEGIN
    -- One read of the user: the limit override, active and expired leases, and the start
    -- of the lease (p_user, p_stream) if it is active; then drop the expired ones, counting
    -- what was really deleted (a purge may have been first).
    v_exp := CASE WHEN p_ttl > 0 THEN v_now + p_ttl ELSE 0 END;
    SELECT (SELECT u.max_streams FROM "streamy".users u WHERE u.user_id = p_user),
           count(*) FILTER (WHERE l.expires_ms = 0 OR l.expires_ms > v_now),
           count(*) FILTER (WHERE l.expires_ms > 0 AND l.expires_ms <= v_now),
           max(l.since_ms) FILTER (WHERE l.stream_id = p_stream
                                     AND (l.expires_ms = 0 OR l.expires_ms > v_now))
      INTO v_max, active, expired, v_since
      FROM "streamy".leases l WHERE l.user_id = p_user;
    lim := coalesce(v_max, p_limit);
    IF expired > 0 THEN
      DELETE FROM "streamy".leases l
       WHERE l.user_id = p_user AND l.expires_ms > 0 AND l.expires_ms <= v_now;
      GET DIAGNOSTICS expired = ROW_COUNT;
    END IF;
    IF v_since IS NULL THEN
      rc := RC_NOT_FOUND;
      EXIT ren;
    END IF;
    UPDATE "streamy".leases l SET renewed_ms = v_now, expires_ms = v_exp
     WHERE l.user_id = p_user AND l.stream_id = p_stream;
    since := v_since; expires := v_exp;
  END ren;
END $$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: leases; Type: TABLE; Schema: streamy; Owner: -
--

CREATE TABLE streamy.leases (
    user_id text NOT NULL COLLATE pg_catalog."C",
    stream_id text NOT NULL COLLATE pg_catalog."C",
    since_ms bigint NOT NULL,
    renewed_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);


--
-- Name: schema_version; Type: TABLE; Schema: streamy; Owner: -
--

CREATE TABLE streamy.schema_version (
    version integer NOT NULL
);


--
-- Name: users; Type: TABLE; Schema: streamy; Owner: -
--

CREATE TABLE streamy.users (
    user_id text NOT NULL COLLATE pg_catalog."C",
    max_streams integer,
    CONSTRAINT users_max_streams_check CHECK ((max_streams >= 0))
);


--
-- Data for Name: leases; Type: TABLE DATA; Schema: streamy; Owner: -
--

INSERT INTO streamy.leases VALUES ('alice', 'living-room-tv', 1796408677705, 1796408677705, 0);
INSERT INTO streamy.leases VALUES ('alice', 'phone', 1796408677725, 1796408677725, 0);
INSERT INTO streamy.leases VALUES ('alice', 'laptop', 1796408677749, 1796408677749, 0);
INSERT INTO streamy.leases VALUES ('bob', 'tablet', 1796408677772, 1796408677772, 0);
INSERT INTO streamy.leases VALUES ('6f9619ff-8b86-d011-b42d-00c04fc964ff', '0b5c2a1e-0000-4000-8000-000000000001', 1796408677793, 1796408677793, 0);
INSERT INTO streamy.leases VALUES ('dave', 'expiring', 1796408677832, 1796408677832, 1796412277832);


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: streamy; Owner: -
--

INSERT INTO streamy.schema_version VALUES (2);


--
-- Data for Name: users; Type: TABLE DATA; Schema: streamy; Owner: -
--

INSERT INTO streamy.users VALUES ('alice', NULL);
INSERT INTO streamy.users VALUES ('bob', NULL);
INSERT INTO streamy.users VALUES ('6f9619ff-8b86-d011-b42d-00c04fc964ff', NULL);
INSERT INTO streamy.users VALUES ('carol', 5);
INSERT INTO streamy.users VALUES ('dave', NULL);


--
-- Name: leases leases_pkey; Type: CONSTRAINT; Schema: streamy; Owner: -
--

ALTER TABLE ONLY streamy.leases
    ADD CONSTRAINT leases_pkey PRIMARY KEY (user_id, stream_id);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: streamy; Owner: -
--

ALTER TABLE ONLY streamy.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (user_id);


--
-- Name: leases_expiry; Type: INDEX; Schema: streamy; Owner: -
--

CREATE INDEX leases_expiry ON streamy.leases USING btree (expires_ms) WHERE (expires_ms > 0);


--
-- PostgreSQL database dump complete
--

\unrestrict GoNLkUshYtlv0OQ6O0SC7df9wLnS3C99KhprSUGrBHJKgP69LCHbIbughNehHwY

