/* handshake.c — the opening handshake (RFC 6455 section 4) on the server
 * side, the accept key, and permessage-deflate negotiation (RFC 7692
 * section 5) for both roles. */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "eddy/log.h"
#include "ws_internal.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- Small lexical helpers --------------------------------------------------
 */

void eddy__ws_base64(const uint8_t *in, size_t n, char *out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *out++ = b64chars[v >> 18];
    *out++ = b64chars[(v >> 12) & 63];
    *out++ = b64chars[(v >> 6) & 63];
    *out++ = b64chars[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *out++ = b64chars[v >> 18];
    *out++ = b64chars[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *out++ = b64chars[v >> 18];
    *out++ = b64chars[(v >> 12) & 63];
    *out++ = b64chars[(v >> 6) & 63];
    *out++ = '=';
  }
  *out = '\0';
}

static int b64_value(char c) {
  const char *p = c != '\0' ? strchr(b64chars, c) : NULL;
  return p != NULL ? (int)(p - b64chars) : -1;
}

static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t token_len(const char *p) {
  size_t n = 0;
  while (is_tchar((unsigned char)p[n]))
    n++;
  return n;
}

static const char *skip_ows(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

int eddy__ws_has_token(const char *value, const char *token) {
  size_t tl = strlen(token);
  const char *p = value;
  while (p != NULL && *p != '\0') {
    p = skip_ows(p);
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    if (n == tl && strncasecmp(p, token, tl) == 0)
      return 1;
    p = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

/* ---- The accept key
 * ---------------------------------------------------------- */

int eddy_ws_accept_key(const char *key, char out[EDDY_WS_ACCEPT_LEN + 1]) {
  if (key == NULL || out == NULL || strlen(key) != 24 || key[22] != '=' ||
      key[23] != '=')
    return UV_EINVAL;
  for (int i = 0; i < 22; i++)
    if (b64_value(key[i]) < 0)
      return UV_EINVAL;
  /* 16 bytes fill 21 characters and 4 bits of the 22nd: a canonical
   * encoding has those trailing bits zero. */
  if ((b64_value(key[21]) & 0x0f) != 0)
    return UV_EINVAL;
  uint8_t buf[24 + sizeof(ws_guid) - 1];
  memcpy(buf, key, 24);
  memcpy(buf + 24, ws_guid, sizeof(ws_guid) - 1);
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(buf, sizeof(buf), digest);
  eddy__ws_base64(digest, sizeof(digest), out);
  return 0;
}

/* ---- Extension headers
 * --------------------------------------------------------
 * Sec-WebSocket-Extensions = 1#( token *( OWS ";" OWS token
 *                                  [ OWS "=" OWS ( token / quoted-string ) ] )
 * )
 */

#define MAX_PARAMS 8
#define MAX_VALUE 16

typedef struct {
  const char *name;
  size_t name_len;
  int has_value;
  int value_bad; /* too long or a bad quoted-string */
  char value[MAX_VALUE];
} ext_param_t;

typedef struct {
  const char *name;
  size_t name_len;
  ext_param_t params[MAX_PARAMS];
  size_t nparams;
  int too_many;
} ext_t;

/* Parses one list element at *pp. Returns 1 with *e filled, 0 at the end of
 * the value, UV_EINVAL on a grammar error. */
static int next_ext(const char **pp, ext_t *e) {
  const char *p = *pp;
  for (;;) { /* empty list elements are allowed and skipped */
    p = skip_ows(p);
    if (*p != ',')
      break;
    p++;
  }
  if (*p == '\0') {
    *pp = p;
    return 0;
  }
  memset(e, 0, sizeof(*e));
  e->name = p;
  e->name_len = token_len(p);
  if (e->name_len == 0)
    return UV_EINVAL;
  p = skip_ows(p + e->name_len);
  while (*p == ';') {
    p = skip_ows(p + 1);
    ext_param_t scratch, *prm = &scratch;
    if (e->nparams < MAX_PARAMS)
      prm = &e->params[e->nparams++];
    else
      e->too_many = 1;
    memset(prm, 0, sizeof(*prm));
    prm->name = p;
    prm->name_len = token_len(p);
    if (prm->name_len == 0)
      return UV_EINVAL;
    p = skip_ows(p + prm->name_len);
    if (*p == '=') {
      p = skip_ows(p + 1);
      prm->has_value = 1;
      size_t vl = 0;
      if (*p == '"') {
        p++;
        while (*p != '"') {
          if (*p == '\0')
            return UV_EINVAL;
          if (*p == '\\') {
            p++;
            if (*p == '\0')
              return UV_EINVAL;
          }
          if (vl + 1 < MAX_VALUE)
            prm->value[vl++] = *p;
          else
            prm->value_bad = 1;
          p++;
        }
        p++;
      } else {
        size_t n = token_len(p);
        if (n == 0)
          return UV_EINVAL;
        if (n + 1 <= MAX_VALUE) {
          memcpy(prm->value, p, n);
          vl = n;
        } else {
          prm->value_bad = 1;
        }
        p += n;
      }
      prm->value[vl] = '\0';
      p = skip_ows(p);
    }
  }
  if (*p == ',')
    p++;
  else if (*p != '\0')
    return UV_EINVAL;
  *pp = p;
  return 1;
}

/* permessage-deflate parameters as written. Window bits: -1 absent, 0
 * present without a value, else 8..15. */
typedef struct {
  int snct, cnct;
  int smwb, cmwb;
} pmd_raw_t;

static int parse_bits(const ext_param_t *prm) {
  if (!prm->has_value || prm->value_bad)
    return -1;
  const char *v = prm->value;
  if (strcmp(v, "8") == 0 || strcmp(v, "9") == 0)
    return v[0] - '0';
  if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
    return 10 + (v[1] - '0');
  return -1;
}

static int name_is(const char *p, size_t n, const char *s) {
  return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

/* 0, or -1 for an offer/answer the RFC says to decline or reject. */
static int pmd_params(const ext_t *e, pmd_raw_t *r) {
  r->snct = r->cnct = 0;
  r->smwb = r->cmwb = -1;
  if (e->too_many)
    return -1;
  for (size_t i = 0; i < e->nparams; i++) {
    const ext_param_t *prm = &e->params[i];
    if (name_is(prm->name, prm->name_len, "server_no_context_takeover")) {
      if (r->snct || prm->has_value)
        return -1;
      r->snct = 1;
    } else if (name_is(prm->name, prm->name_len,
                       "client_no_context_takeover")) {
      if (r->cnct || prm->has_value)
        return -1;
      r->cnct = 1;
    } else if (name_is(prm->name, prm->name_len, "server_max_window_bits")) {
      if (r->smwb != -1 || (r->smwb = parse_bits(prm)) < 0)
        return -1;
    } else if (name_is(prm->name, prm->name_len, "client_max_window_bits")) {
      if (r->cmwb != -1)
        return -1;
      if (!prm->has_value)
        r->cmwb = 0;
      else if ((r->cmwb = parse_bits(prm)) < 0)
        return -1;
    } else {
      return -1;
    }
  }
  return 0;
}

int eddy_ws_deflate_negotiate(const char *value, unsigned window_bits,
                              eddy_ws_deflate_params_t *params, char *resp,
                              size_t resp_size) {
  if (value == NULL || params == NULL || resp == NULL)
    return UV_EINVAL;
  unsigned ours = window_bits == 0 ? 15 : window_bits;
  if (ours < 9 || ours > 15)
    return UV_EINVAL;
  const char *p = value;
  ext_t e;
  int rc, found = 0;
  pmd_raw_t chosen = {0, 0, -1, -1};
  /* The whole value is checked even after a match: a malformed header is a
   * bad request wherever the error is. */
  while ((rc = next_ext(&p, &e)) == 1) {
    pmd_raw_t r;
    if (found || !name_is(e.name, e.name_len, "permessage-deflate") ||
        pmd_params(&e, &r) != 0 || r.smwb == 8)
      continue;
    chosen = r;
    found = 1;
  }
  if (rc < 0)
    return rc;
  if (!found)
    return 0;
  if (chosen.smwb > 0 && (unsigned)chosen.smwb < ours)
    ours = (unsigned)chosen.smwb;
  int n = snprintf(resp, resp_size,
                   "permessage-deflate; server_no_context_takeover%s",
                   chosen.cnct ? "; client_no_context_takeover" : "");
  if (n > 0 && (size_t)n < resp_size && (ours < 15 || chosen.smwb > 0))
    n += snprintf(resp + n, resp_size - (size_t)n,
                  "; server_max_window_bits=%u", ours);
  if (n < 0 || (size_t)n >= resp_size)
    return UV_ENOBUFS;
  params->server_max_window_bits = ours;
  params->client_max_window_bits = chosen.cmwb > 8 ? (unsigned)chosen.cmwb : 15;
  params->server_no_context_takeover = 1;
  params->client_no_context_takeover = chosen.cnct;
  return 1;
}

int eddy_ws_deflate_offer(unsigned window_bits, int no_context_takeover,
                          char *buf, size_t size) {
  unsigned ours = window_bits == 0 ? 15 : window_bits;
  if (ours < 9 || ours > 15 || buf == NULL)
    return UV_EINVAL;
  char bits[8] = "";
  if (ours < 15)
    snprintf(bits, sizeof(bits), "=%u", ours);
  int n =
      snprintf(buf, size, "permessage-deflate; client_max_window_bits%s%s",
               bits, no_context_takeover ? "; server_no_context_takeover" : "");
  return n < 0 || (size_t)n >= size ? UV_ENOBUFS : 0;
}

int eddy_ws_deflate_check_answer(const char *value, unsigned window_bits,
                                 int no_context_takeover,
                                 eddy_ws_deflate_params_t *params) {
  unsigned ours = window_bits == 0 ? 15 : window_bits;
  if (value == NULL || params == NULL || ours < 9 || ours > 15)
    return UV_EINVAL;
  const char *p = value;
  ext_t e;
  pmd_raw_t r;
  /* We offered exactly one extension: the answer must be that one. */
  if (next_ext(&p, &e) != 1 ||
      !name_is(e.name, e.name_len, "permessage-deflate") ||
      pmd_params(&e, &r) != 0 || next_ext(&p, &e) != 0)
    return UV_EPROTO;
  if (r.cmwb == 0 || r.cmwb == 8 || (no_context_takeover && !r.snct))
    return UV_EPROTO;
  if (r.cmwb > 0 && (unsigned)r.cmwb < ours)
    ours = (unsigned)r.cmwb;
  params->client_max_window_bits = ours;
  params->server_max_window_bits = r.smwb > 0 ? (unsigned)r.smwb : 15;
  params->server_no_context_takeover = r.snct;
  params->client_no_context_takeover = r.cnct;
  return 0;
}

/* ---- The server upgrade
 * ------------------------------------------------------ */

/* Whether any header field called name lists token. */
static int header_has_token(const eddy_http_request_t *req, const char *name,
                            const char *token) {
  size_t n = eddy_http_header_count(req);
  for (size_t i = 0; i < n; i++) {
    const char *hn, *hv;
    if (eddy_http_header_at(req, i, &hn, &hv) == 0 &&
        strcasecmp(hn, name) == 0 && eddy__ws_has_token(hv, token))
      return 1;
  }
  return 0;
}

static size_t header_fields(const eddy_http_request_t *req, const char *name) {
  size_t n = eddy_http_header_count(req), count = 0;
  for (size_t i = 0; i < n; i++) {
    const char *hn, *hv;
    if (eddy_http_header_at(req, i, &hn, &hv) == 0 && strcasecmp(hn, name) == 0)
      count++;
  }
  return count;
}

/* Answers a refused upgrade and returns UV_EPROTO. */
static int refuse(eddy_http_request_t *req, int status, const char *why) {
  char q[96];
  eddy_log(EDDY_LOG_DEBUG, "ws.refused", "status=%d reason=%s", status,
           eddy_log_quote(q, sizeof(q), why));
  if (status == 426)
    eddy_http_set_header(req, "Sec-WebSocket-Version", "13");
  eddy_http_respond_error(req, status, why);
  return UV_EPROTO;
}

static const char *choose_subprotocol(const eddy_http_request_t *req,
                                      const char *const *supported) {
  if (supported == NULL)
    return NULL;
  for (size_t i = 0; supported[i] != NULL; i++) {
    size_t n = eddy_http_header_count(req);
    for (size_t j = 0; j < n; j++) {
      const char *hn, *hv;
      if (eddy_http_header_at(req, j, &hn, &hv) != 0 ||
          strcasecmp(hn, "Sec-WebSocket-Protocol") != 0)
        continue;
      /* Subprotocol names are case-sensitive (RFC 6455 11.3.4). */
      const char *p = hv;
      while (*p != '\0') {
        p = skip_ows(p);
        size_t tl = token_len(p);
        if (tl == strlen(supported[i]) && memcmp(p, supported[i], tl) == 0) {
          const char *after = skip_ows(p + tl);
          if (*after == ',' || *after == '\0')
            return supported[i];
        }
        const char *comma = strchr(p, ',');
        if (comma == NULL)
          break;
        p = comma + 1;
      }
    }
  }
  return NULL;
}

static int origin_allowed(const eddy_http_request_t *req,
                          const char *const *origins) {
  if (origins == NULL)
    return 1;
  const char *o = eddy_http_header(req, "Origin");
  if (o == NULL)
    return 1; /* not a browser: Origin protects browsers' users only */
  for (size_t i = 0; origins[i] != NULL; i++)
    if (strcasecmp(o, origins[i]) == 0)
      return 1;
  return 0;
}

int eddy_ws_accept(eddy_http_request_t *req, const eddy_ws_config_t *cfg,
                   const eddy_ws_handlers_t *handlers, void *arg,
                   eddy_ws_t **out) {
  if (out != NULL)
    *out = NULL;
  if (req == NULL)
    return UV_EINVAL;
  eddy_ws_config_t defaults;
  if (cfg == NULL) {
    memset(&defaults, 0, sizeof(defaults));
    cfg = &defaults;
  }
  if (handlers == NULL || eddy__ws_config_check(cfg) != 0) {
    eddy_http_respond_error(req, 500, "bad WebSocket configuration");
    return UV_EINVAL;
  }
  if (strcmp(eddy_http_method(req), "GET") != 0)
    return refuse(req, 400, "a WebSocket upgrade must use GET");
  if (eddy_http_version_minor(req) < 1)
    return refuse(req, 400, "a WebSocket upgrade needs HTTP/1.1");
  if (!header_has_token(req, "Upgrade", "websocket"))
    return refuse(req, 400, "missing \"Upgrade: websocket\"");
  if (!header_has_token(req, "Connection", "upgrade"))
    return refuse(req, 400, "missing \"Connection: Upgrade\"");
  const char *version = eddy_http_header(req, "Sec-WebSocket-Version");
  if (version == NULL || strcmp(version, "13") != 0 ||
      header_fields(req, "Sec-WebSocket-Version") != 1)
    return refuse(req, 426, "Sec-WebSocket-Version must be 13");
  const char *key = eddy_http_header(req, "Sec-WebSocket-Key");
  char accept[EDDY_WS_ACCEPT_LEN + 1];
  if (key == NULL || header_fields(req, "Sec-WebSocket-Key") != 1 ||
      eddy_ws_accept_key(key, accept) != 0)
    return refuse(req, 400,
                  "Sec-WebSocket-Key must be one base64-encoded 16-byte value");
  if (!origin_allowed(req, cfg->origins))
    return refuse(req, 403, "origin not allowed");
  if (!eddy_http_wants_upgrade(req))
    return refuse(req, 400, "not an upgrade request");

  eddy_ws_deflate_params_t params;
  char ext[128];
  int pmd = 0;
  if (cfg->permessage_deflate) {
    size_t n = eddy_http_header_count(req);
    for (size_t i = 0; i < n && pmd == 0; i++) {
      const char *hn, *hv;
      if (eddy_http_header_at(req, i, &hn, &hv) != 0 ||
          strcasecmp(hn, "Sec-WebSocket-Extensions") != 0)
        continue;
      pmd = eddy_ws_deflate_negotiate(hv, cfg->deflate_window_bits, &params,
                                      ext, sizeof(ext));
      if (pmd < 0)
        return refuse(req, 400, "malformed Sec-WebSocket-Extensions");
    }
  }
  const char *proto = choose_subprotocol(req, cfg->subprotocols);

  eddy_ws_t *ws = NULL;
  int rc = eddy__ws_create(eddy_http_reactor(req), EDDY_WS_SERVER, cfg,
                           handlers, arg, pmd == 1 ? &params : NULL, &ws);
  if (rc == 0 && proto != NULL)
    rc = eddy__ws_set_subprotocol(ws, proto, strlen(proto));
  if (rc == 0)
    rc = eddy_http_set_header(req, "Upgrade", "websocket");
  if (rc == 0)
    rc = eddy_http_set_header(req, "Connection", "Upgrade");
  if (rc == 0)
    rc = eddy_http_set_header(req, "Sec-WebSocket-Accept", accept);
  if (rc == 0 && proto != NULL)
    rc = eddy_http_set_header(req, "Sec-WebSocket-Protocol", proto);
  if (rc == 0 && pmd == 1)
    rc = eddy_http_set_header(req, "Sec-WebSocket-Extensions", ext);
  if (rc == 0)
    rc = eddy_http_switch_protocol(req, &ws->proto);
  if (rc != 0) {
    if (ws != NULL && ws->state == EDDY__WS_NEW)
      eddy_ws_free_unconnected(ws);
    if (rc != UV_EALREADY)
      eddy_http_respond_error(req, 500, "could not switch to WebSocket");
    else
      eddy_http_finish(req);
    return rc;
  }
  if (out != NULL)
    *out = ws;
  return 0;
}
