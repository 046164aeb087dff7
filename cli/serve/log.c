/* SPDX-License-Identifier: MIT */
/* log.c: the server's log: JSON lines (or text) to standard error or a file. */
#include "serve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

/* Lines are gathered in a buffer and written when it fills or when flushed
 * (every few hundred milliseconds by the server), so logging costs no system
 * call per request. */
static void write_out(serve_log *log)
{
    if (log->len > 0 && log->fp != NULL) {
        fwrite(log->buf, 1, log->len, log->fp);
        fflush(log->fp);
    }
    log->len = 0;
}

static void append(serve_log *log, const char *line, size_t n)
{
    pthread_mutex_lock(&log->lock);
    if (log->len + n > sizeof(log->buf))
        write_out(log);
    if (n > sizeof(log->buf)) {
        fwrite(line, 1, n, log->fp);
    } else {
        memcpy(log->buf + log->len, line, n);
        log->len += n;
    }
    pthread_mutex_unlock(&log->lock);
}

static void timestamp(char *buf, size_t size) /* size: 64 */
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(tv.tv_usec / 1000));
}

/* A client chooses the path: copy printable ASCII and valid UTF-8 as they are and
 * write anything else as \xHH, so a line can neither be split nor forged, and
 * the JSON encoder never meets invalid UTF-8. */
static void safe_text(char *out, size_t size, const char *in)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t left = strlen(in), o = 0;

    while (*p && o + 5 < size) {
        size_t n;

        if (*p < 0x80)
            n = *p >= 0x20 && *p < 0x7f; /* ASCII controls and DEL are escaped too */
        else
            n = streamy__utf8_seq(p, left);
        if (n == 0) {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", *p++);
            left--;
            continue;
        }
        if (o + n >= size)
            break;
        memcpy(out + o, p, n);
        o += n;
        p += n;
        left -= n;
    }
    out[o] = '\0';
}

int serve_log_open(serve_log *log, const char *path, int json, int access)
{
    memset(log, 0, sizeof(*log));
    pthread_mutex_init(&log->lock, NULL);
    log->path = path;
    log->json = json;
    log->access = access;
    log->fp = stderr;
    return serve_log_reopen(log);
}

int serve_log_reopen(serve_log *log)
{
    FILE *fp;
    int fd;

    if (log->path == NULL)
        return 0;
    /* Logs name users: a new log file is readable by its owner only. */
    fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    fp = fdopen(fd, "a");
    if (fp == NULL) {
        int err = errno;
        close(fd);
        return -err;
    }
    pthread_mutex_lock(&log->lock);
    write_out(log);
    if (log->fp != NULL && log->fp != stderr)
        fclose(log->fp);
    log->fp = fp;
    pthread_mutex_unlock(&log->lock);
    return 0;
}

/* Emit one line: a JSON object built with jansson, or `text`. */
static void emit(serve_log *log, json_t *obj, const char *text)
{
    char *line;
    size_t n;

    if (log->json) {
        line = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (line == NULL)
            return;
        n = strlen(line);
        line[n] = '\n'; /* overwrite the NUL; the length is known */
        append(log, line, n + 1);
        free(line);
    } else {
        append(log, text, strlen(text));
    }
}

void serve_log_request(serve_log *log, const char *method, const char *path,
                       unsigned status, int64_t latency_us, const char *remote)
{
    char ts[64], text[512], safe[256];
    json_t *obj = NULL;

    if (!log->access)
        return;
    timestamp(ts, sizeof(ts));
    safe_text(safe, sizeof(safe), path);
    path = safe;
    if (log->json) {
        obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:s}", "ts", ts, "level",
                        "info", "msg", "request", "method", method, "path", path,
                        "status", (int)status, "latency_ms", (double)latency_us / 1000.0,
                        "remote", remote ? remote : "");
        if (obj == NULL)
            return;
    } else {
        snprintf(text, sizeof(text), "%s %s %s %u %.3fms %s\n", ts, method, path, status,
                 (double)latency_us / 1000.0, remote ? remote : "-");
    }
    emit(log, obj, text);
    json_decref(obj);
}

void serve_log_event(serve_log *log, const char *level, const char *msg,
                     const char *detail)
{
    char ts[64], text[1024];
    json_t *obj = NULL;

    timestamp(ts, sizeof(ts));
    if (log->json) {
        obj = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level, "msg", msg);
        if (obj == NULL)
            return;
        if (detail != NULL)
            json_object_set_new(obj, "detail", json_string(detail));
    } else {
        snprintf(text, sizeof(text), "%s %s %s%s%.700s\n", ts, level, msg,
                 detail ? ": " : "", detail ? detail : "");
    }
    emit(log, obj, text);
    json_decref(obj);
    if (strcmp(level, "info") != 0)
        serve_log_flush(log); /* problems are seen at once */
}

void serve_log_flush(serve_log *log)
{
    pthread_mutex_lock(&log->lock);
    write_out(log);
    pthread_mutex_unlock(&log->lock);
}

void serve_log_close(serve_log *log)
{
    serve_log_flush(log);
    if (log->fp != NULL && log->fp != stderr)
        fclose(log->fp);
    log->fp = NULL;
    pthread_mutex_destroy(&log->lock);
}
