/* protocol.c — one client message of the realtime protocol in, replies and
 * pushes out (docs/protocol/realtime.md). Pure: no hub, no I/O.
 *
 * Parsing is strict: a field of the wrong type, an unknown field or a
 * missing one is a 400 naming the field, so client bugs surface at once
 * instead of being half-understood. Only text that is not a JSON object
 * with a string "op" counts as protocol breakage (the caller closes). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "eddy/utf8.h"
#include "realtime/rt_internal.h"

/* JSON numbers above 2^53 cannot round-trip through JavaScript. */
#define SAFE_INT_MAX 9007199254740991ll

void eddy__rt_msg_clear(eddy__rt_msg_t *m) {
  if (m->root != NULL)
    json_decref(m->root);
  m->root = NULL;
}

int eddy__rt_channel_valid(const char *name, size_t len) {
  if (len == 0 || len > EDDY_RT_CHANNEL_MAX)
    return 0;
  const char *colon = NULL;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    /* '"' and '\\' would need escaping in every push; ',' separates
     * channels in the line protocol's BROADCAST. */
    if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\' || ch == ',')
      return 0;
    if (ch == ':' && colon == NULL)
      colon = name + i;
  }
  if (colon != NULL &&
      !eddy__rt_namespace_name_valid(name, (size_t)(colon - name)))
    return 0;
  return 1;
}

size_t eddy__rt_channel_ns_len(const char *name, size_t len) {
  const char *colon = memchr(name, ':', len);
  return colon == NULL ? 0 : (size_t)(colon - name);
}

/* err = pre + what + post. */
static void put_err(char *err, size_t errlen, const char *pre, const char *what,
                    const char *post) {
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s%s%s", pre, what, post);
  /* what may be client text cut by the buffer: never leave half a
   * character, the message goes out in a text frame. */
  size_t n = err != NULL ? strlen(err) : 0;
  while (n > 0 && eddy_utf8_valid(err, n) != 0)
    err[--n] = '\0';
}

static const struct {
  const char *name;
  eddy__rt_op_t op;
  /* The fields each op accepts besides "op" and "id". */
  const char *const fields[5];
} ops[] = {
    {"connect", EDDY__RT_OP_CONNECT, {"token", "info", NULL}},
    {"subscribe",
     EDDY__RT_OP_SUBSCRIBE,
     {"channel", "history", "recover", NULL}},
    {"unsubscribe", EDDY__RT_OP_UNSUBSCRIBE, {"channel", NULL}},
    {"publish", EDDY__RT_OP_PUBLISH, {"channel", "data", NULL}},
    {"presence", EDDY__RT_OP_PRESENCE, {"channel", NULL}},
    {"history", EDDY__RT_OP_HISTORY, {"channel", "since", "limit", NULL}},
    {"ping", EDDY__RT_OP_PING, {NULL}},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static int get_count(json_t *v, uint64_t max, uint64_t *out) {
  if (!json_is_integer(v))
    return -1;
  json_int_t n = json_integer_value(v);
  if (n < 0 || (uint64_t)n > max)
    return -1;
  *out = (uint64_t)n;
  return 0;
}

static int parse_id(json_t *id, eddy__rt_msg_t *m) {
  if (json_is_integer(id)) {
    json_int_t n = json_integer_value(id);
    if (n < -SAFE_INT_MAX || n > SAFE_INT_MAX)
      return -1;
    snprintf(m->id, sizeof(m->id), "%" JSON_INTEGER_FORMAT, n);
    return 0;
  }
  if (json_is_string(id)) {
    size_t n = json_string_length(id);
    if (n > EDDY__RT_ID_STRING_MAX)
      return -1;
    eddy_buf_t b;
    eddy_buf_init(&b, sizeof(m->id) - 1);
    int rc = eddy__rt_json_str(&b, json_string_value(id), n);
    if (rc == 0) {
      memcpy(m->id, b.data, b.len);
      m->id[b.len] = '\0';
    }
    eddy_buf_free(&b);
    return rc == 0 ? 0 : -1;
  }
  return -1;
}

static int parse_recover(json_t *r, eddy__rt_msg_t *m, char *err,
                         size_t errlen) {
  if (!json_is_object(r)) {
    put_err(err, errlen, "", "recover", " must be an object");
    return 400;
  }
  const char *key;
  json_t *v;
  json_object_foreach(r, key, v) {
    if (strcmp(key, "epoch") != 0 && strcmp(key, "offset") != 0) {
      put_err(err, errlen, "unknown field recover.", key, "");
      return 400;
    }
  }
  json_t *e = json_object_get(r, "epoch");
  json_t *o = json_object_get(r, "offset");
  if (e == NULL || o == NULL) {
    put_err(err, errlen, "recover needs ", "epoch and offset", "");
    return 400;
  }
  /* An epoch of another length can never match: accept any short string
   * so the answer is the plain "recovered": false. */
  if (!json_is_string(e) || json_string_length(e) > 64) {
    put_err(err, errlen, "", "recover.epoch", " must be a string");
    return 400;
  }
  if (get_count(o, (uint64_t)SAFE_INT_MAX, &m->offset) != 0) {
    put_err(err, errlen, "", "recover.offset",
            " must be a non-negative integer");
    return 400;
  }
  size_t el = json_string_length(e);
  if (el == EDDY_RT_EPOCH_LEN)
    memcpy(m->epoch, json_string_value(e), el + 1);
  else
    m->epoch[0] = '\0'; /* matches no epoch */
  m->has_recover = 1;
  return 0;
}

static int parse_fields(eddy__rt_msg_t *m, int k, char *err, size_t errlen) {
  json_t *root = m->root;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "op") == 0 || strcmp(key, "id") == 0)
      continue;
    int known = 0;
    for (int i = 0; ops[k].fields[i] != NULL; i++)
      if (strcmp(ops[k].fields[i], key) == 0)
        known = 1;
    if (!known) {
      put_err(err, errlen, "unknown field ", key, "");
      return 400;
    }
  }
  if (m->op != EDDY__RT_OP_CONNECT && m->op != EDDY__RT_OP_PING) {
    json_t *ch = json_object_get(root, "channel");
    if (ch == NULL) {
      put_err(err, errlen, "missing ", "channel", "");
      return 400;
    }
    if (!json_is_string(ch) ||
        !eddy__rt_channel_valid(json_string_value(ch),
                                json_string_length(ch))) {
      put_err(err, errlen, "bad ", "channel", " name");
      return 400;
    }
    m->channel = json_string_value(ch);
    m->channel_len = json_string_length(ch);
  }
  switch (m->op) {
  case EDDY__RT_OP_CONNECT:
    if ((v = json_object_get(root, "token")) != NULL) {
      if (!json_is_string(v) || json_string_length(v) > EDDY__RT_TOKEN_MAX) {
        put_err(err, errlen, "", "token",
                " must be a string of at most 4096 bytes");
        return 400;
      }
      m->token = json_string_value(v);
      m->token_len = json_string_length(v);
    }
    if ((v = json_object_get(root, "info")) != NULL) {
      if (!json_is_object(v)) {
        put_err(err, errlen, "", "info", " must be an object");
        return 400;
      }
      m->info = v;
    }
    break;
  case EDDY__RT_OP_SUBSCRIBE:
    if ((v = json_object_get(root, "history")) != NULL) {
      if (get_count(v, EDDY__RT_HISTORY_ASK_MAX, &m->history) != 0) {
        put_err(err, errlen, "", "history", " must be an integer 0..1000000");
        return 400;
      }
      m->has_history = 1;
    }
    if ((v = json_object_get(root, "recover")) != NULL) {
      int rc = parse_recover(v, m, err, errlen);
      if (rc != 0)
        return rc;
    }
    if (m->has_history && m->has_recover) {
      put_err(err, errlen, "", "subscribe",
              ": give history or recover, not both");
      return 400;
    }
    break;
  case EDDY__RT_OP_PUBLISH:
    if ((m->data = json_object_get(root, "data")) == NULL) {
      put_err(err, errlen, "missing ", "data", "");
      return 400;
    }
    break;
  case EDDY__RT_OP_HISTORY:
    if ((v = json_object_get(root, "since")) != NULL &&
        get_count(v, (uint64_t)SAFE_INT_MAX, &m->since) != 0) {
      put_err(err, errlen, "", "since", " must be a non-negative integer");
      return 400;
    }
    if ((v = json_object_get(root, "limit")) != NULL &&
        get_count(v, EDDY__RT_HISTORY_ASK_MAX, &m->limit) != 0) {
      put_err(err, errlen, "", "limit", " must be an integer 0..1000000");
      return 400;
    }
    break;
  default:
    break;
  }
  return 0;
}

int eddy__rt_parse(const char *text, size_t len, eddy__rt_msg_t *m, char *err,
                   size_t errlen) {
  memset(m, 0, sizeof(*m));
  memcpy(m->id, "null", 5);
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  json_error_t je;
  /* Duplicate keys are refused: two "channel"s would leave it open which
   * one a proxy and the hub each acted on. */
  json_t *root =
      json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (root == NULL) {
    put_err(err, errlen, "", "malformed JSON", "");
    return EDDY__RT_BROKEN;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    put_err(err, errlen, "", "a message must be a JSON object", "");
    return EDDY__RT_BROKEN;
  }
  json_t *op = json_object_get(root, "op");
  if (!json_is_string(op)) {
    json_decref(root);
    put_err(err, errlen, "", "a message needs a string op", "");
    return EDDY__RT_BROKEN;
  }
  m->root = root;
  json_t *id = json_object_get(root, "id");
  if (id != NULL && parse_id(id, m) != 0) {
    memcpy(m->id, "null", 5);
    eddy__rt_msg_clear(m);
    put_err(err, errlen, "", "id",
            " must be an integer or a string of at most 64 bytes");
    return 400;
  }
  int k = -1;
  for (size_t i = 0; i < NOPS; i++)
    if (strcmp(ops[i].name, json_string_value(op)) == 0)
      k = (int)i;
  if (k < 0) {
    eddy__rt_msg_clear(m);
    put_err(err, errlen, "unknown op", "", "");
    return 400;
  }
  m->op = ops[k].op;
  int rc = parse_fields(m, k, err, errlen);
  if (rc != 0) {
    eddy__rt_msg_clear(m);
    m->channel = NULL;
    m->token = NULL;
    m->info = m->data = NULL;
    return rc;
  }
  return EDDY__RT_OK;
}

/* ---- Encoders ------------------------------------------------------------*/

int eddy__rt_json_str(eddy_buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  int rc = eddy_buf_reserve(b, len + 2);
  if (rc != 0)
    return rc;
  eddy_buf_append(b, "\"", 1);
  size_t run = 0; /* bytes copied as they are, appended in one go */
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch != '"' && ch != '\\')
      continue;
    if ((rc = eddy_buf_append(b, s + run, i - run)) != 0)
      return rc;
    run = i + 1;
    char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
    if (ch == '"' || ch == '\\') {
      esc[1] = (char)ch;
      rc = eddy_buf_append(b, esc, 2);
    } else if (ch == '\n') {
      rc = eddy_buf_append(b, "\\n", 2);
    } else if (ch == '\t') {
      rc = eddy_buf_append(b, "\\t", 2);
    } else if (ch == '\r') {
      rc = eddy_buf_append(b, "\\r", 2);
    } else {
      rc = eddy_buf_append(b, esc, 6);
    }
    if (rc != 0)
      return rc;
  }
  if ((rc = eddy_buf_append(b, s + run, len - run)) != 0)
    return rc;
  return eddy_buf_append(b, "\"", 1);
}

int eddy__rt_encode_error(eddy_buf_t *b, const char *id, unsigned code,
                          const char *message) {
  int rc = eddy_buf_printf(b,
                           "{\"op\":\"error\",\"id\":%s,\"code\":%u,"
                           "\"message\":",
                           id != NULL ? id : "null", code);
  if (rc == 0)
    rc = eddy__rt_json_str(b, message, strlen(message));
  if (rc == 0)
    rc = eddy_buf_append(b, "}", 1);
  return rc;
}

int eddy__rt_encode_disconnect(eddy_buf_t *b, unsigned code,
                               const char *reason) {
  int rc = eddy_buf_printf(
      b, "{\"op\":\"disconnect\",\"code\":%u,\"reason\":", code);
  if (rc == 0)
    rc = eddy__rt_json_str(b, reason, strlen(reason));
  if (rc == 0)
    rc = eddy_buf_append(b, "}", 1);
  return rc;
}

int eddy__rt_encode_message(eddy_buf_t *b, const char *channel, size_t chlen,
                            uint64_t offset, const char *data, size_t dlen,
                            const char *client, const char *user) {
  /* Channel names need no escaping (see eddy__rt_channel_valid): plain
   * concatenation around the already-serialized data. */
  int rc = eddy_buf_reserve(b, 64 + chlen + dlen);
  if (rc != 0)
    return rc;
  eddy_buf_append(b, "{\"op\":\"message\",\"channel\":\"", 27);
  eddy_buf_append(b, channel, chlen);
  char num[48];
  int n =
      snprintf(num, sizeof(num), "\",\"offset\":%" PRIu64 ",\"data\":", offset);
  eddy_buf_append(b, num, (size_t)n);
  eddy_buf_append(b, data, dlen);
  if (client != NULL) {
    if ((rc = eddy_buf_append_str(b, ",\"info\":{\"client\":")) != 0 ||
        (rc = eddy__rt_json_str(b, client, strlen(client))) != 0 ||
        (rc = eddy_buf_append_str(b, ",\"user\":")) != 0 ||
        (rc = eddy__rt_json_str(b, user, strlen(user))) != 0 ||
        (rc = eddy_buf_append(b, "}", 1)) != 0)
      return rc;
  }
  return eddy_buf_append(b, "}", 1);
}
