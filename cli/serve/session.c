/* SPDX-License-Identifier: MIT */
/* session.c: sessions over HTTP: the optional fields of a decision's body (device,
 * maxStreams, leaseId), the Accept header that asks for the richer bodies, and those
 * bodies. */
#include "serve_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- content negotiation: Accept ------------------------------------------------ */

/* How much an Accept list wants each media range that concerns the richer bodies, in
 * thousandths (RFC 9110 section 12.5.1); -1 when not named. */
typedef struct accept_q {
    int rich; /* SERVE_TYPE_RICH itself */
    int json; /* application/json */
    int app;  /* application/ wildcard */
    int any;  /* the full wildcard */
} accept_q;

/* The length of `p` (`n` bytes) before the first byte of `stops` outside a quoted
 * string. */
static size_t until(const char *p, size_t n, const char *stops)
{
    int quoted = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (quoted) {
            if (p[i] == '\\' && i + 1 < n)
                i++;
            else if (p[i] == '"')
                quoted = 0;
        } else if (p[i] == '"') {
            quoted = 1;
        } else if (strchr(stops, p[i]) != NULL) {
            break;
        }
    }
    return i;
}

static void trim(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* A qvalue, "0" to "1" with at most three decimals, in thousandths; -1 if malformed. */
static int qvalue(const char *p, size_t n)
{
    int q, scale = 1000;

    if (n == 0 || (p[0] != '0' && p[0] != '1'))
        return -1;
    q = (p[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (p[1] != '.' || n > 5)
        return -1;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        scale /= 10;
        q += (p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* One element of an Accept list: a media range, its parameters, maybe a weight. An
 * element that is not well formed counts for nothing. */
static void accept_element(accept_q *aq, const char *p, size_t n)
{
    size_t i = until(p, n, ";"), rlen = i;
    const char *range = p;
    int q = 1000, *slot = NULL;

    trim(&range, &rlen);
    while (i < n) {
        size_t start = i + 1, len = until(p + start, n - start, ";"), plen = len;
        const char *param = p + start;

        trim(&param, &plen);
        if (plen >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
            q = qvalue(param + 2, plen - 2);
            break; /* what follows the weight are extensions */
        }
        i = start + len;
    }
#define RANGE_IS(lit) (rlen == sizeof(lit) - 1 && strncasecmp(range, lit, rlen) == 0)
    if (RANGE_IS(SERVE_TYPE_RICH))
        slot = &aq->rich;
    else if (RANGE_IS("application/json"))
        slot = &aq->json;
    else if (RANGE_IS("application/*"))
        slot = &aq->app;
    else if (RANGE_IS("*/*"))
        slot = &aq->any;
#undef RANGE_IS
    if (slot != NULL && q > *slot)
        *slot = q;
}

static enum MHD_Result accept_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    if (key != NULL && value != NULL && strcasecmp(key, "Accept") == 0) {
        size_t n = strlen(value), i = 0;
        while (i <= n) {
            size_t len = until(value + i, n - i, ",");
            accept_element(cls, value + i, len);
            i += len + 1;
        }
    }
    return MHD_YES;
}

/* Whether the client asked for the richer bodies: it names SERVE_TYPE_RICH (a wildcard is
 * not enough) with a weight above 0 and no lower than application/json's. Several
 * Accept headers count as one list. */
int serve_wants_rich(struct MHD_Connection *conn)
{
    accept_q aq = {-1, -1, -1, -1};
    int json;

    MHD_get_connection_values(conn, MHD_HEADER_KIND, accept_header, &aq);
    json = aq.json >= 0 ? aq.json : aq.app >= 0 ? aq.app : aq.any;
    return aq.rich > 0 && aq.rich >= json;
}

/* --- the optional fields of a decision ------------------------------------------- */

/* An optional field, or NULL when it is absent or null. */
static json_t *optional_field(json_t *doc, const char *name)
{
    json_t *v = json_object_get(doc, name);

    return json_is_null(v) ? NULL : v;
}

/* Subscribe's "device", by the library's rules for a label: 1 to STREAMY_DEVICE_MAX
 * bytes without control characters (jansson has checked the UTF-8). Into `out`, or
 * "" when absent. On failure the message goes into `msg`. */
static int device_field(json_t *doc, char *out, char *msg, size_t size)
{
    json_t *v = optional_field(doc, "device");
    const unsigned char *text;
    size_t len;

    out[0] = '\0';
    if (v == NULL)
        return 1;
    if (!json_is_string(v)) {
        snprintf(msg, size, "\"device\" must be a string");
        return 0;
    }
    text = (const unsigned char *)json_string_value(v);
    len = json_string_length(v);
    if (len == 0) {
        snprintf(msg, size, "\"device\" is empty");
        return 0;
    }
    if (len > STREAMY_DEVICE_MAX) {
        snprintf(msg, size, "\"device\" is longer than %d bytes", STREAMY_DEVICE_MAX);
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] < 0x20 || text[i] == 0x7F) {
            snprintf(msg, size, "\"device\" contains a control character (byte %zu)",
                     i + 1);
            return 0;
        }
    }
    memcpy(out, text, len + 1);
    return 1;
}

/* Renew's and unsubscribe's "leaseId": a UUID in its text form, any case. */
static int lease_id_field(json_t *doc, char *out, char *msg, size_t size)
{
    json_t *v = optional_field(doc, "leaseId");
    const char *text;

    out[0] = '\0';
    if (v == NULL)
        return 1;
    if (!json_is_string(v)) {
        snprintf(msg, size, "\"leaseId\" must be a string");
        return 0;
    }
    text = json_string_value(v);
    if (json_string_length(v) != STREAMY_LEASE_ID_LEN) {
        snprintf(msg, size, "\"leaseId\" must be a UUID");
        return 0;
    }
    for (size_t i = 0; i < STREAMY_LEASE_ID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? text[i] != '-' : !isxdigit((unsigned char)text[i])) {
            snprintf(msg, size, "\"leaseId\" must be a UUID");
            return 0;
        }
    }
    memcpy(out, text, STREAMY_LEASE_ID_LEN + 1);
    return 1;
}

/* Subscribe's "maxStreams": the limit the caller's entitlement gives the user. */
static int max_streams_field(json_t *doc, int *out, char *msg, size_t size)
{
    json_t *v = optional_field(doc, "maxStreams");

    *out = STREAMY_MAX_STREAMS_NONE;
    if (v == NULL)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > STREAMY_LIMIT_MAX) {
        snprintf(msg, size, "\"maxStreams\" must be an integer from 0 to %u",
                 STREAMY_LIMIT_MAX);
        return 0;
    }
    *out = (int)json_integer_value(v);
    return 1;
}

/* The fields a route takes beyond userId and videoStreamId, into the call; the fields
 * it does not take are ignored, as unknown fields are. */
int serve_session_fields(serve_pending *p, json_t *doc, streamy_op_kind kind, char *msg,
                         size_t size)
{
    streamy_call init = STREAMY_CALL_INIT;

    p->call = init;
    p->call.user = p->user;
    p->call.stream = p->stream;
    if (kind == STREAMY_OP_SUBSCRIBE) {
        if (!device_field(doc, p->device, msg, size) ||
            !max_streams_field(doc, &p->call.max_streams, msg, size))
            return 0;
        p->call.device = p->device[0] ? p->device : NULL;
    } else {
        if (!lease_id_field(doc, p->lease_id, msg, size))
            return 0;
        p->call.lease_id = p->lease_id[0] ? p->lease_id : NULL;
    }
    return 1;
}

/* --- the richer bodies ----------------------------------------------------------- */

/* One of the user's leases, as a refusal lists them for the player to offer "stop one
 * of these". */
int serve_add_active(const streamy_lease *lease, void *payload)
{
    json_t *o = json_pack(
        "{s:s, s:o, s:I, s:o}", "videoStreamId", lease->stream, "device",
        lease->device && lease->device[0] ? json_string(lease->device) : json_null(),
        "since", (json_int_t)lease->since_ms, "leaseId",
        lease->lease_id && lease->lease_id[0] ? json_string(lease->lease_id)
                                              : json_null());
    return o == NULL || json_array_append_new(payload, o) != 0;
}

static json_t *string_or_null(const char *text)
{
    return text[0] ? json_string(text) : json_null();
}

static json_t *millis_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

/* The richer 200 of subscribe and renew: the original body's data, then the session. */
json_t *serve_rich_ok(const serve_pending *p, json_t *data)
{
    const streamy_answer *a = &p->answer;
    const streamy_decision *d = &a->decision;
    int subscribe = p->op.kind == STREAMY_OP_SUBSCRIBE;

    if (data == NULL)
        return NULL;
    json_object_set_new(data, "leaseId", string_or_null(a->lease_id));
    json_object_set_new(data, "device", string_or_null(a->device));
    if (subscribe)
        json_object_set_new(data, "created", json_boolean(d->created));
    json_object_set_new(data, "active", json_integer(d->active));
    json_object_set_new(data, "limit", json_integer(d->limit));
    json_object_set_new(data, "since", millis_or_null(d->since_ms));
    if (subscribe)
        json_object_set_new(data, "expiresAt", millis_or_null(d->expires_ms));
    if (subscribe && d->evicted[0])
        json_object_set_new(data, "evicted",
                            json_pack("{s:s, s:o, s:o}", "videoStreamId", d->evicted,
                                      "device", string_or_null(a->evicted_device),
                                      "leaseId", string_or_null(a->evicted_lease_id)));
    return json_pack("{s:i, s:o}", "status", 200, "data", data);
}
