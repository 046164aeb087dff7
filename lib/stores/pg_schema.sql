-- SPDX-License-Identifier: MIT
-- pg_schema.sql: the PostgreSQL store's schema and functions (lib/stores/pg.c), built
-- into libstreamy by cmake/Embed.cmake.
--
-- The file is made of sections: a line "--@ NAME" starts the section NAME, which runs to
-- the next such line. pg.c runs CREATE on a database without the schema, and MIGRATE on
-- a schema of an older version, each in one transaction. In a section, @S@ is the quoted
-- schema name, @VERSION@ the schema version pg.c knows (SCHEMA_VERSION), @RANDOM_UUID@
-- the section RANDOM_UUID_13 or RANDOM_UUID_11 that fits the server's version, and
-- @NAME@ the text of section NAME, indented as the token is: the single and the batch
-- functions splice the same sections, so that both decide with the very same code.
--
-- Every decision on a user first locks the user's row in users (creating it if needed):
-- decisions on the same user are serialised, other users never wait. The lock is a row
-- lock, not an advisory lock, so that it holds wherever the function runs (on Citus, the
-- row lives in the user's shard).

--@ CREATE
-- A new schema.
@TABLES@
@FUNCTIONS@
@SET_VERSION@

--@ MIGRATE
-- A schema of an older version: its rows stay, and gain what later versions added.
-- Version 2 changed the order of the decision functions' answer and version 3 their
-- parameters, which CREATE OR REPLACE cannot do: every function a released schema has
-- had is dropped and made again.
@DROP_FUNCTIONS@
@MIGRATE_TABLES@
@FUNCTIONS@
@SET_VERSION@

--@ TABLES
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
  expires_ms bigint NOT NULL, -- 0: never
  lease_id uuid NOT NULL,     -- made by the client (streamy_lease_id_generate)
  device text,                -- the caller's label, or NULL
  PRIMARY KEY (user_id, stream_id)
);
CREATE INDEX leases_expiry ON @S@.leases (expires_ms) WHERE expires_ms > 0;

--@ MIGRATE_TABLES
-- Version 3: leases have an id and may have a device label. The leases already there
-- get a random id each (a volatile default is computed row by row), then the default
-- goes: from now on the client gives every new lease its id.
ALTER TABLE @S@.leases ADD COLUMN IF NOT EXISTS lease_id uuid NOT NULL
    DEFAULT @RANDOM_UUID@,
  ADD COLUMN IF NOT EXISTS device text;
ALTER TABLE @S@.leases ALTER COLUMN lease_id DROP DEFAULT;

--@ RANDOM_UUID_13
gen_random_uuid()

--@ RANDOM_UUID_11
-- Before PostgreSQL 13 there is no gen_random_uuid() without pgcrypto: a version-4
-- UUID from random().
overlay(overlay(md5(random()::text || clock_timestamp()::text) PLACING '4' FROM 13)
        PLACING '8' FROM 17)::uuid

--@ SET_VERSION
DELETE FROM @S@.schema_version;
INSERT INTO @S@.schema_version (version) VALUES (@VERSION@);

--@ DROP_FUNCTIONS
DROP FUNCTION IF EXISTS @S@.now_ms();
DROP FUNCTION IF EXISTS @S@.acquire(text, text, bigint, bigint, integer, integer, boolean);
DROP FUNCTION IF EXISTS @S@.renew(text, text, bigint, bigint, integer);
DROP FUNCTION IF EXISTS @S@.apply(integer[], text[], text[], bigint, bigint, integer,
                                  integer, boolean);
DROP FUNCTION IF EXISTS @S@.purge(bigint);
DROP FUNCTION IF EXISTS @S@.acquire(text, text, bigint, bigint, integer, integer, boolean,
                                    uuid, text);
DROP FUNCTION IF EXISTS @S@.renew(text, text, bigint, bigint, integer, uuid);
DROP FUNCTION IF EXISTS @S@.apply(integer[], text[], text[], bigint, bigint, integer[],
                                  integer, boolean, uuid[], uuid[], text[]);

--@ FUNCTIONS
CREATE FUNCTION @S@.now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- p_id: the id of the lease if one is created; p_device: its label, or NULL.
CREATE FUNCTION @S@.acquire(p_user text, p_stream text, p_now bigint, p_ttl bigint,
    p_limit integer, p_policy integer, p_shadow boolean, p_id uuid, p_device text,
    @ANSWER@)
LANGUAGE plpgsql AS $$
DECLARE
  @CONSTANTS@
  v_now bigint; v_exp bigint; v_since bigint; v_max integer;
BEGIN
  @LOCK@
  v_now := coalesce(p_now, @S@.now_ms());
  @NO_ANSWER@
  @ACQUIRE@
END $$;

-- p_fence: the lease id the caller holds, or NULL.
CREATE FUNCTION @S@.renew(p_user text, p_stream text, p_now bigint, p_ttl bigint,
    p_limit integer, p_fence uuid,
    @ANSWER@)
LANGUAGE plpgsql AS $$
DECLARE
  @CONSTANTS@
  v_now bigint; v_exp bigint; v_since bigint; v_max integer;
BEGIN
  @LOCK@
  v_now := coalesce(p_now, @S@.now_ms());
  @NO_ANSWER@
  @RENEW@
END $$;

-- A batch: lock the batch's users one by one in sorted order (so that two batches never
-- wait on each other in a cycle; one user a statement, so that on Citus each lock is a
-- query of one shard), read the clock once, then decide each operation in the given
-- order. One statement: one transaction. Operation i has the limit p_limits[i]; a
-- subscribe the id p_ids[i] for a new lease and the label p_devices[i]; a renew or an
-- unsubscribe the fence p_fences[i].
CREATE FUNCTION @S@.apply(p_kinds integer[], p_users text[], p_streams text[],
    p_now bigint, p_ttl bigint, p_limits integer[], p_policy integer, p_shadow boolean,
    p_ids uuid[], p_fences uuid[], p_devices text[],
    @ANSWER@)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
  @CONSTANTS@
  v_users text[]; v_now bigint; v_exp bigint; v_since bigint;
  v_max integer; v_e bigint; i integer; p_user text; p_stream text;
  p_limit integer; p_id uuid; p_fence uuid; p_device text;
BEGIN
  SELECT array_agg(d.u ORDER BY d.u) INTO v_users
    FROM (SELECT DISTINCT x COLLATE "C" AS u FROM unnest(p_users) x) d;
  FOREACH p_user IN ARRAY coalesce(v_users, '{}') LOOP
    @LOCK@
  END LOOP;
  v_now := coalesce(p_now, @S@.now_ms());
  FOR i IN 1 .. coalesce(cardinality(p_kinds), 0) LOOP
    p_user := p_users[i]; p_stream := p_streams[i]; p_limit := p_limits[i];
    p_id := p_ids[i]; p_fence := p_fences[i]; p_device := p_devices[i];
    @NO_ANSWER@
    IF p_kinds[i] = OP_SUBSCRIBE THEN
      @ACQUIRE@
    ELSIF p_kinds[i] = OP_UNSUBSCRIBE THEN
      @RELEASE@
    ELSE -- OP_RENEW
      @RENEW@
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- Version 2's decision functions, for the libstreamy of release 0.2 that may still run
-- while its fleet is upgraded: they decide with the functions above, a lease they create
-- gets a random id, and they answer without the session fields. (Version 2's unsubscribe,
-- list and count are plain statements that still fit.)
CREATE FUNCTION @S@.acquire(p_user text, p_stream text, p_now bigint, p_ttl bigint,
    p_limit integer, p_policy integer, p_shadow boolean,
    @ANSWER_2@)
LANGUAGE sql AS $$
  SELECT @ANSWER_2_OF_A@
    FROM @S@.acquire(p_user, p_stream, p_now, p_ttl, p_limit, p_policy, p_shadow,
                     @RANDOM_UUID@, NULL) a
$$;

CREATE FUNCTION @S@.renew(p_user text, p_stream text, p_now bigint, p_ttl bigint,
    p_limit integer,
    @ANSWER_2@)
LANGUAGE sql AS $$
  SELECT @ANSWER_2_OF_A@
    FROM @S@.renew(p_user, p_stream, p_now, p_ttl, p_limit, NULL) a
$$;

CREATE FUNCTION @S@.apply(p_kinds integer[], p_users text[], p_streams text[],
    p_now bigint, p_ttl bigint, p_limit integer, p_policy integer, p_shadow boolean,
    @ANSWER_2@)
RETURNS SETOF record
LANGUAGE sql AS $$
  SELECT @ANSWER_2_OF_A@
    FROM @S@.apply(p_kinds, p_users, p_streams, p_now, p_ttl,
                   array_fill(p_limit, ARRAY[cardinality(p_kinds)]), p_policy, p_shadow,
                   ARRAY(SELECT @RANDOM_UUID@
                           FROM generate_series(1, cardinality(p_kinds))),
                   array_fill(NULL::uuid, ARRAY[cardinality(p_kinds)]),
                   array_fill(NULL::text, ARRAY[cardinality(p_kinds)])) a
$$;

-- Purge in one statement-transaction; the users rows of users left with nothing go too,
-- one user a statement, and only rows no decision holds right now (SKIP LOCKED: purge
-- never waits for a decision while holding deleted leases that the decision might wait
-- for).
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

--@ ANSWER
-- A decision's answer, in the order of lib/stores/answer.h: the result (RC_*), then
-- streamy_decision's fields, then the session's (streamy_answer's): the lease's id and
-- label, the evicted lease's, and whether the caller's lease id was stale.
@ANSWER_2@,
OUT lease uuid, OUT label text, OUT evicted_lease uuid, OUT evicted_label text,
OUT stale boolean

--@ ANSWER_2
-- The answer of schema version 2: the result and streamy_decision's fields.
OUT rc integer, OUT created boolean, OUT removed boolean, OUT shadow_refused boolean,
OUT active integer, OUT lim integer, OUT expired integer,
OUT since bigint, OUT expires bigint, OUT retry bigint, OUT evicted text

--@ ANSWER_2_OF_A
a.rc, a.created, a.removed, a.shadow_refused, a.active, a.lim, a.expired, a.since,
a.expires, a.retry, a.evicted

--@ CONSTANTS
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

--@ NO_ANSWER
rc := RC_OK; created := false; removed := false; shadow_refused := false;
active := 0; lim := 0; expired := 0; since := 0; expires := 0; retry := 0;
evicted := NULL; lease := NULL; label := NULL; evicted_lease := NULL;
evicted_label := NULL; stale := false;

--@ LOCK
-- Lock the user's row, creating it first if there is none.
LOOP
  PERFORM FROM @S@.users u WHERE u.user_id = p_user FOR UPDATE;
  EXIT WHEN FOUND;
  INSERT INTO @S@.users (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
END LOOP;

--@ SCAN
-- One read of the user: the limit override, active and expired leases, and the start
-- of the lease (p_user, p_stream) if it is active; then drop the expired ones, counting
-- what was really deleted (a purge may have been first).
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

--@ ACQUIRE
-- Subscribe, as include/streamy/store.h describes acquire. An evict policy removes the
-- lease started first (oldest) or renewed least recently (idle); ties go to the
-- smallest stream id. A refresh keeps the lease's id, and its label unless p_device
-- gives one.
<<acq>>
BEGIN
  @SCAN@
  IF v_since IS NOT NULL THEN
    UPDATE @S@.leases l SET renewed_ms = v_now, expires_ms = v_exp,
           device = coalesce(p_device, l.device)
     WHERE l.user_id = p_user AND l.stream_id = p_stream
    RETURNING l.lease_id, l.device INTO lease, label;
    since := v_since; expires := v_exp;
    EXIT acq;
  END IF;
  IF active >= lim THEN
    IF p_policy <> POLICY_REJECT AND lim > 0 AND active = lim THEN
      DELETE FROM @S@.leases l WHERE l.user_id = p_user AND l.stream_id = (
          SELECT v.stream_id FROM @S@.leases v WHERE v.user_id = p_user
           ORDER BY CASE WHEN p_policy = POLICY_EVICT_OLDEST THEN v.since_ms
                         ELSE v.renewed_ms END,
                    v.stream_id
           LIMIT 1)
      RETURNING l.stream_id, l.lease_id, l.device
           INTO evicted, evicted_lease, evicted_label;
      active := active - 1;
    ELSIF p_shadow THEN
      shadow_refused := true;
    ELSE
      IF lim > 0 THEN
        -- The (active - lim + 1)-th earliest expiry: when one more fits by itself.
        SELECT l.expires_ms INTO retry FROM @S@.leases l
         WHERE l.user_id = p_user AND l.expires_ms > v_now
         ORDER BY l.expires_ms OFFSET active - lim LIMIT 1;
      END IF;
      rc := RC_LIMIT_REACHED; retry := coalesce(retry, 0);
      EXIT acq;
    END IF;
  END IF;
  INSERT INTO @S@.leases (user_id, stream_id, since_ms, renewed_ms, expires_ms,
                         lease_id, device)
  VALUES (p_user, p_stream, v_now, v_now, v_exp, p_id, p_device);
  created := true; active := active + 1; since := v_now; expires := v_exp;
  lease := p_id; label := p_device;
END acq;

--@ RENEW
-- Renew: extend an unexpired lease, or answer not found; also when p_fence names another
-- lease than the unexpired one (stale).
<<ren>>
BEGIN
  @SCAN@
  IF v_since IS NULL THEN
    rc := RC_NOT_FOUND;
    EXIT ren;
  END IF;
  UPDATE @S@.leases l SET renewed_ms = v_now, expires_ms = v_exp
   WHERE l.user_id = p_user AND l.stream_id = p_stream
     AND (p_fence IS NULL OR l.lease_id = p_fence)
  RETURNING l.lease_id, l.device INTO lease, label;
  IF NOT FOUND THEN
    rc := RC_NOT_FOUND; stale := true;
    EXIT ren;
  END IF;
  since := v_since; expires := v_exp;
END ren;

--@ RELEASE
-- Unsubscribe within a batch (alone, it is one statement: Q_RELEASE in pg.c). With
-- p_fence, an unexpired lease of another id stays (stale); an expired one is nobody's.
DELETE FROM @S@.leases l WHERE l.user_id = p_user AND l.stream_id = p_stream
   AND (p_fence IS NULL OR l.lease_id = p_fence
        OR (l.expires_ms > 0 AND l.expires_ms <= v_now))
  RETURNING l.expires_ms, l.lease_id, l.device INTO v_e, lease, label;
IF FOUND THEN
  IF v_e = 0 OR v_e > v_now THEN
    removed := true;
  ELSE
    expired := 1; lease := NULL; label := NULL;
  END IF;
ELSIF p_fence IS NOT NULL THEN
  stale := EXISTS (SELECT FROM @S@.leases l
                    WHERE l.user_id = p_user AND l.stream_id = p_stream);
END IF;
