/* SPDX-License-Identifier: MIT */
/* http_client.c: requests to the server through libcurl, one at a time or in parallel
 * over the multi interface. */
#include "http_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http_private.h"

/* --- requests --------------------------------------------------------------------- */

typedef struct buf {
    char *data;
    size_t len;
} buf;

static void buf_add(buf *b, const void *data, size_t n)
{
    char *p = realloc(b->data, b->len + n + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p + b->len, data, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
}

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
    buf_add(payload, data, size * n);
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *payload)
{
    buf *b = payload;

    /* A new status line (after a 100 Continue) starts the headers over. */
    if (size * n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        b->len = 0;
    buf_add(b, data, size * n);
    return size * n;
}

typedef struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len;
    char method[16];
    char path[600];
    buf resp, head;
    char errbuf[CURL_ERROR_SIZE];
    int running;
} xfer;

static void xfer_clear(xfer *x)
{
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    free(x->resp.data);
    free(x->head.data);
    memset(&x->resp, 0, sizeof(x->resp));
    memset(&x->head, 0, sizeof(x->head));
}

static void xfer_prepare(xfer *x, const http_server *s, const char *method,
                         const char *path, const char *body, size_t len,
                         const char *const *headers)
{
    CURL *e = x->easy;
    int has_type = 0, has_expect = 0;
    char url[700];

    xfer_clear(x);
    snprintf(x->method, sizeof(x->method), "%s", method);
    snprintf(x->path, sizeof(x->path), "%s", path);
    x->errbuf[0] = '\0';
    curl_easy_reset(e);
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)http_scaled_ms(60000));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    /* HTTP_TEST_VERBOSE=1 shows every exchange on standard error. */
    if (getenv("HTTP_TEST_VERBOSE") != NULL)
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->resp);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x->head);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        has_type |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        has_expect |= strncasecmp(headers[i], "Expect:", 7) == 0;
        x->headers = curl_slist_append(x->headers, headers[i]);
    }
    if (body != NULL && !has_type)
        x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    if (!has_expect)
        x->headers = curl_slist_append(x->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    if (body != NULL) {
        x->body = malloc(len + 1);
        ck_assert_ptr_nonnull(x->body);
        memcpy(x->body, body, len);
        x->len = len;
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") == 0 && body == NULL)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    else if (body == NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    }
}

json_t *http_json(const http_response *r)
{
    json_error_t err;
    json_t *j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &err);

    ck_assert_msg(j != NULL, "%s %s: %ld body is not JSON (%s): %s", r->method, r->path,
                  r->status, err.text, r->body);
    return http__track_json(j);
}

const char *http_header(const http_response *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *found = NULL, *line;
    char *value;
    int count = 0;

    if (r->head == NULL)
        return NULL;
    for (line = r->head; *line; line += strcspn(line, "\n"), line += *line == '\n') {
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            found = line + nlen + 1;
            count++;
        }
    }
    ck_assert_msg(count <= 1, "%s %s: header %s appears %d times", r->method, r->path,
                  name, count);
    if (found == NULL)
        return NULL;
    found += strspn(found, " \t");
    value = http_track(strndup(found, strcspn(found, "\r\n")));
    return value;
}

static http_response *xfer_finish(xfer *x, CURLcode rc)
{
    http_response *r = http_track(calloc(1, sizeof(*r)));
    long status = 0;

    snprintf(r->method, sizeof(r->method), "%s", x->method);
    snprintf(r->path, sizeof(r->path), "%s", x->path);
    if (rc != CURLE_OK) {
        snprintf(r->error, sizeof(r->error), "(libcurl: %.200s)",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    }
    r->status = status;
    r->body = http_track(x->resp.data ? x->resp.data : strdup(""));
    r->len = x->resp.len;
    r->head = http_track(x->head.data ? x->head.data : strdup(""));
    memset(&x->resp, 0, sizeof(x->resp));
    memset(&x->head, 0, sizeof(x->head));
    if (r->status != 0)
        http__check_and_record(r);
    return r;
}

http_response *http_request_n(http_server *s, const char *method, const char *path,
                              const char *body, size_t len, const char *const *headers)
{
    xfer x;
    http_response *r;
    CURLcode rc;

    memset(&x, 0, sizeof(x));
    if (s->easy == NULL)
        s->easy = curl_easy_init();
    ck_assert_ptr_nonnull(s->easy);
    x.easy = s->easy;
    xfer_prepare(&x, s, method, path, body, len, headers);
    rc = curl_easy_perform(x.easy);
    r = xfer_finish(&x, rc);
    xfer_clear(&x);
    return r;
}

http_response *http_request(http_server *s, const char *method, const char *path,
                            const char *body, const char *const *headers)
{
    return http_request_n(s, method, path, body, body ? strlen(body) : 0, headers);
}

/* --- the multi interface ---------------------------------------------------------- */

struct http_multi {
    http_server *s;
    CURLM *multi;
    xfer *x;
    int slots, running;
    http_done_cb done;
    void *payload;
};

http_multi *http_multi_new(http_server *s, int slots, http_done_cb done, void *payload)
{
    http_multi *m = calloc(1, sizeof(*m));

    ck_assert_ptr_nonnull(m);
    m->s = s;
    m->multi = curl_multi_init();
    ck_assert_ptr_nonnull(m->multi);
    m->x = calloc((size_t)slots, sizeof(*m->x));
    ck_assert_ptr_nonnull(m->x);
    m->slots = slots;
    m->done = done;
    m->payload = payload;
    for (int i = 0; i < slots; i++) {
        m->x[i].easy = curl_easy_init();
        ck_assert_ptr_nonnull(m->x[i].easy);
    }
    return m;
}

void http_multi_start(http_multi *m, int slot, const char *method, const char *path,
                      const char *body, const char *const *headers)
{
    xfer *x = &m->x[slot];

    ck_assert_msg(!x->running, "slot %d is busy", slot);
    xfer_prepare(x, m->s, method, path, body, body ? strlen(body) : 0, headers);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    ck_assert_int_eq(curl_multi_add_handle(m->multi, x->easy), CURLM_OK);
    x->running = 1;
    m->running++;
}

int http_multi_run(http_multi *m, int timeout_ms)
{
    int64_t deadline = http_mono_ms() + timeout_ms;
    int still, left;

    while (m->running > 0) {
        CURLMsg *msg;
        int64_t now = http_mono_ms();
        if (now >= deadline)
            break;
        ck_assert_int_eq(curl_multi_perform(m->multi, &still), CURLM_OK);
        while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
            xfer *x = NULL;
            http_response *r;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            ck_assert_ptr_nonnull(x);
            {
                CURLcode rc = msg->data.result;
                curl_multi_remove_handle(m->multi, x->easy);
                x->running = 0;
                m->running--;
                r = xfer_finish(x, rc);
            }
            if (m->done != NULL)
                m->done((int)(x - m->x), r, m->payload);
        }
        if (m->running > 0)
            curl_multi_poll(m->multi, NULL, 0,
                            (int)(deadline - now < 50 ? deadline - now : 50), NULL);
    }
    return m->running;
}

int http_multi_sent(http_multi *m)
{
    int n = 0;

    for (int i = 0; i < m->slots; i++) {
        curl_off_t up = 0;
        long req = 0;
        if (!m->x[i].running)
            continue;
        curl_easy_getinfo(m->x[i].easy, CURLINFO_SIZE_UPLOAD_T, &up);
        curl_easy_getinfo(m->x[i].easy, CURLINFO_REQUEST_SIZE, &req);
        n += req > 0 && (size_t)up == m->x[i].len;
    }
    return n;
}

int http_multi_running(const http_multi *m)
{
    return m->running;
}

void http_multi_free(http_multi *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < m->slots; i++) {
        if (m->x[i].running)
            curl_multi_remove_handle(m->multi, m->x[i].easy);
        curl_easy_cleanup(m->x[i].easy);
        xfer_clear(&m->x[i]);
    }
    curl_multi_cleanup(m->multi);
    free(m->x);
    free(m);
}
