/* json.c — JSON request bodies and responses through jansson. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eddy/error.h"
#include "eddy/http_json.h"

/* Duplicate keys are refused: two parsers reading the same text must not
 * see different objects. Any top-level value is JSON (RFC 8259). Without
 * JSON_ALLOW_NUL, "\u0000" is refused, so strings stay C strings. */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static void set_err(eddy_json_error_t *err, int status, const char *text) {
  if (err == NULL)
    return;
  err->status = status;
  err->line = 0;
  err->column = 0;
  err->position = 0;
  snprintf(err->text, sizeof(err->text), "%s", text);
}

int eddy_json_parse(const char *s, size_t len, json_t **out,
                    eddy_json_error_t *err) {
  *out = NULL;
  set_err(err, 0, "");
  json_error_t je;
  json_t *j = json_loadb(s, len, LOAD_FLAGS, &je);
  if (j != NULL) {
    *out = j;
    return 0;
  }
#if JANSSON_VERSION_HEX >= 0x020b00
  if (json_error_code(&je) == json_error_out_of_memory) {
    set_err(err, 500, "out of memory");
    return UV_ENOMEM;
  }
#endif
  if (err != NULL) {
    err->status = 400;
    err->line = je.line > 0 ? je.line : 0;
    err->column = je.column > 0 ? je.column : 0;
    err->position = je.position > 0 ? (size_t)je.position : 0;
    snprintf(err->text, sizeof(err->text),
             "invalid JSON at line %d, column %d: %s", err->line, err->column,
             je.text);
  }
  return EDDY_EPARSE;
}

static int is_ws(char c) {
  return c == ' ' || c == '\t';
}

/* Whether the parameters after a media type (";a=b; charset=x") leave the
 * charset absent or UTF-8. Other parameters are ignored. */
static int charset_ok(const char *p) {
  while (*p != '\0') {
    while (*p == ';' || is_ws(*p))
      p++;
    const char *name = p;
    while (*p != '\0' && *p != '=' && *p != ';')
      p++;
    size_t name_len = (size_t)(p - name);
    while (name_len > 0 && is_ws(name[name_len - 1]))
      name_len--;
    if (*p != '=')
      continue;
    p++;
    while (is_ws(*p))
      p++;
    const char *v = p;
    size_t vlen;
    if (*p == '"') {
      v = ++p;
      while (*p != '\0' && *p != '"')
        p++;
      vlen = (size_t)(p - v);
      if (*p == '"')
        p++;
    } else {
      while (*p != '\0' && *p != ';')
        p++;
      vlen = (size_t)(p - v);
      while (vlen > 0 && is_ws(v[vlen - 1]))
        vlen--;
    }
    if (name_len == 7 && strncasecmp(name, "charset", 7) == 0 &&
        !(vlen == 5 && strncasecmp(v, "utf-8", 5) == 0))
      return 0;
  }
  return 1;
}

int eddy_json_is_json_type(const char *ct) {
  if (ct == NULL)
    return 0;
  while (is_ws(*ct))
    ct++;
  size_t n = strcspn(ct, ";");
  size_t t = n;
  while (t > 0 && is_ws(ct[t - 1]))
    t--;
  int json = (t == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
             (t > 17 && strncasecmp(ct, "application/", 12) == 0 &&
              strncasecmp(ct + t - 5, "+json", 5) == 0 &&
              memchr(ct + 12, '/', t - 12) == NULL && strcspn(ct, " \t") >= t);
  return json && charset_ok(ct + n);
}

int eddy_http_body_json(const eddy_http_request_t *req, json_t **out,
                        eddy_json_error_t *err) {
  *out = NULL;
  if (!eddy_json_is_json_type(eddy_http_header(req, "Content-Type"))) {
    set_err(err, 415, "Content-Type must be application/json (UTF-8)");
    return UV_ENOTSUP;
  }
  size_t len;
  const char *body = eddy_http_body(req, &len);
  if (len == 0) {
    set_err(err, 400, "empty body where JSON was expected");
    return EDDY_EPARSE;
  }
  return eddy_json_parse(body, len, out, err);
}

int eddy_json_encode(const json_t *json, eddy_buf_t *out) {
  if (json == NULL)
    return UV_EINVAL;
  size_t n = json_dumpb(json, NULL, 0, DUMP_FLAGS);
  if (n == 0)
    return UV_EINVAL; /* every JSON text has at least one byte */
  int rc = eddy_buf_reserve(out, n);
  if (rc != 0)
    return rc;
  /* The same value serialises to the same size twice. */
  if (json_dumpb(json, eddy_buf_tail(out), n, DUMP_FLAGS) != n)
    return UV_EINVAL;
  eddy_buf_commit(out, n);
  return 0;
}

/* The text came from jansson's allocator, which the application may have
 * replaced (json_set_alloc_funcs): free it with the matching function. */
static void free_text(void *data, void *arg) {
  (void)arg;
  json_malloc_t m;
  json_free_t f;
  json_get_alloc_funcs(&m, &f);
  f(data);
}

int eddy_http_respond_json(eddy_http_request_t *req, int status,
                           const json_t *json) {
  char *text = json != NULL ? json_dumps(json, DUMP_FLAGS) : NULL;
  if (text == NULL) {
    eddy_http_respond_error(req, 500, "response is not serialisable JSON");
    return UV_EINVAL;
  }
  eddy_slice_t *body = eddy_slice_wrap(text, strlen(text), free_text, NULL);
  if (body == NULL) {
    free_text(text, NULL);
    eddy_http_respond_error(req, 500, "out of memory");
    return UV_ENOMEM;
  }
  int rc = eddy_http_respond_slice(req, status, EDDY_JSON_CONTENT_TYPE, body);
  eddy_slice_unref(body);
  return rc;
}

int eddy_http_respond_json_new(eddy_http_request_t *req, int status,
                               json_t *json) {
  int rc = eddy_http_respond_json(req, status, json);
  json_decref(json);
  return rc;
}

int eddy_http_respond_json_error(eddy_http_request_t *req, int status,
                                 const char *message) {
  if (message == NULL)
    message = eddy_http_status_text(status);
  json_t *s = json_string(message);
  if (s == NULL) /* not UTF-8 */
    s = json_string(eddy_http_status_text(status));
  json_t *o = json_object();
  if (o != NULL && s != NULL && json_object_set_new(o, "error", s) == 0)
    s = NULL; /* now held by o */
  json_decref(s);
  return eddy_http_respond_json_new(req, status, o);
}
