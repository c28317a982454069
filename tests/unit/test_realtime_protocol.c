/* The realtime protocol's pure parts: parsing one client message (every
 * op, every error message byte for byte, every prefix of valid input) and
 * the encoders of replies and pushes. */
#include "support.h"

#include <string.h>

#include "realtime/rt_internal.h"

static int parse(const char *text, eddy__rt_msg_t *m, char *err) {
  return eddy__rt_parse(text, strlen(text), m, err, 128);
}

Test(rt_protocol, every_op) {
  eddy__rt_msg_t m;
  char err[128];
  cr_assert_eq(parse("{\"op\":\"connect\",\"id\":1,\"token\":\"t.s\","
                     "\"info\":{\"n\":1}}",
                     &m, err),
               0, "%s", err);
  cr_assert_eq(m.op, EDDY__RT_OP_CONNECT);
  cr_assert_str_eq(m.id, "1");
  cr_assert_eq(m.token_len, 3);
  cr_assert_str_eq(m.token, "t.s");
  cr_assert(json_is_object(m.info));
  eddy__rt_msg_clear(&m);

  cr_assert_eq(parse("{\"op\":\"subscribe\",\"id\":\"a\\\"b\",\"channel\":"
                     "\"chat:lobby\",\"history\":50}",
                     &m, err),
               0, "%s", err);
  cr_assert_eq(m.op, EDDY__RT_OP_SUBSCRIBE);
  cr_assert_str_eq(m.id, "\"a\\\"b\"");
  cr_assert_str_eq(m.channel, "chat:lobby");
  cr_assert_eq(m.channel_len, 10);
  cr_assert(m.has_history);
  cr_assert_eq(m.history, 50);
  cr_assert(!m.has_recover);
  eddy__rt_msg_clear(&m);

  cr_assert_eq(parse("{\"channel\":\"c\",\"op\":\"subscribe\",\"recover\":"
                     "{\"epoch\":\"0123456789abcdef\",\"offset\":41}}",
                     &m, err),
               0, "%s", err);
  cr_assert_str_eq(m.id, "null");
  cr_assert(m.has_recover);
  cr_assert_str_eq(m.epoch, "0123456789abcdef");
  cr_assert_eq(m.offset, 41);
  eddy__rt_msg_clear(&m);

  /* An epoch of another length is accepted and matches nothing. */
  cr_assert_eq(parse("{\"op\":\"subscribe\",\"channel\":\"c\",\"recover\":"
                     "{\"epoch\":\"old\",\"offset\":0}}",
                     &m, err),
               0);
  cr_assert_str_eq(m.epoch, "");
  eddy__rt_msg_clear(&m);

  cr_assert_eq(
      parse("{\"op\":\"unsubscribe\",\"id\":-3,\"channel\":\"c\"}", &m, err),
      0);
  cr_assert_eq(m.op, EDDY__RT_OP_UNSUBSCRIBE);
  cr_assert_str_eq(m.id, "-3");
  eddy__rt_msg_clear(&m);

  cr_assert_eq(
      parse("{\"op\":\"publish\",\"channel\":\"c\",\"data\":null}", &m, err),
      0);
  cr_assert_eq(m.op, EDDY__RT_OP_PUBLISH);
  cr_assert(json_is_null(m.data));
  eddy__rt_msg_clear(&m);

  cr_assert_eq(parse("{\"op\":\"presence\",\"channel\":\"c\"}", &m, err), 0);
  cr_assert_eq(m.op, EDDY__RT_OP_PRESENCE);
  eddy__rt_msg_clear(&m);

  cr_assert_eq(parse("{\"op\":\"history\",\"channel\":\"c\",\"since\":4,"
                     "\"limit\":2}",
                     &m, err),
               0);
  cr_assert_eq(m.op, EDDY__RT_OP_HISTORY);
  cr_assert_eq(m.since, 4);
  cr_assert_eq(m.limit, 2);
  eddy__rt_msg_clear(&m);

  cr_assert_eq(parse(" {\"op\":\"ping\",\"id\":9007199254740991}\n", &m, err),
               0);
  cr_assert_eq(m.op, EDDY__RT_OP_PING);
  cr_assert_str_eq(m.id, "9007199254740991");
  eddy__rt_msg_clear(&m);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_protocol, request_errors_are_exact) {
  struct {
    const char *text;
    const char *id;
    const char *err;
  } cases[] = {
      {"{\"op\":\"dance\",\"id\":5}", "5", "unknown op"},
      {"{\"op\":\"ping\",\"id\":1.5}", "null",
       "id must be an integer or a string of at most 64 bytes"},
      {"{\"op\":\"ping\",\"id\":9007199254740992}", "null",
       "id must be an integer or a string of at most 64 bytes"},
      {"{\"op\":\"ping\",\"id\":[1]}", "null",
       "id must be an integer or a string of at most 64 bytes"},
      {"{\"op\":\"ping\",\"id\":2,\"channel\":\"c\"}", "2",
       "unknown field channel"},
      {"{\"op\":\"subscribe\",\"id\":3}", "3", "missing channel"},
      {"{\"op\":\"subscribe\",\"channel\":\"\"}", "null", "bad channel name"},
      {"{\"op\":\"subscribe\",\"channel\":\"a b\"}", "null",
       "bad channel name"},
      {"{\"op\":\"subscribe\",\"channel\":\"a,b\"}", "null",
       "bad channel name"},
      {"{\"op\":\"subscribe\",\"channel\":\"b@d:x\"}", "null",
       "bad channel name"},
      {"{\"op\":\"subscribe\",\"channel\":7}", "null", "bad channel name"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"history\":-1}", "null",
       "history must be an integer 0..1000000"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"history\":\"5\"}", "null",
       "history must be an integer 0..1000000"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"recover\":[]}", "null",
       "recover must be an object"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"recover\":{\"epoch\":\"e\"}}",
       "null", "recover needs epoch and offset"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"recover\":{\"epoch\":1,"
       "\"offset\":1}}",
       "null", "recover.epoch must be a string"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"recover\":{\"epoch\":\"e\","
       "\"offset\":-1}}",
       "null", "recover.offset must be a non-negative integer"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"recover\":{\"epoch\":\"e\","
       "\"offset\":1,\"x\":1}}",
       "null", "unknown field recover.x"},
      {"{\"op\":\"subscribe\",\"channel\":\"c\",\"history\":1,\"recover\":{"
       "\"epoch\":\"e\",\"offset\":1}}",
       "null", "subscribe: give history or recover, not both"},
      {"{\"op\":\"publish\",\"id\":\"p\",\"channel\":\"c\"}", "\"p\"",
       "missing data"},
      {"{\"op\":\"connect\",\"token\":5}", "null",
       "token must be a string of at most 4096 bytes"},
      {"{\"op\":\"connect\",\"info\":\"me\"}", "null",
       "info must be an object"},
      {"{\"op\":\"history\",\"channel\":\"c\",\"since\":\"1\"}", "null",
       "since must be a non-negative integer"},
      {"{\"op\":\"history\",\"channel\":\"c\",\"limit\":1000001}", "null",
       "limit must be an integer 0..1000000"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    eddy__rt_msg_t m;
    char err[128];
    cr_assert_eq(parse(cases[i].text, &m, err), 400, "%s", cases[i].text);
    cr_assert_str_eq(err, cases[i].err, "%s", cases[i].text);
    cr_assert_str_eq(m.id, cases[i].id, "%s", cases[i].text);
    cr_assert_null(m.root);
  }
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_protocol, broken_messages) {
  struct {
    const char *text;
    const char *err;
  } cases[] = {
      {"", "malformed JSON"},
      {"nope", "malformed JSON"},
      {"{\"op\":\"ping\"", "malformed JSON"},
      {"{\"op\":\"ping\",\"op\":\"ping\"}", "malformed JSON"}, /* duplicate */
      {"[]", "a message must be a JSON object"},
      {"\"ping\"", "a message must be a JSON object"},
      {"{}", "a message needs a string op"},
      {"{\"op\":7}", "a message needs a string op"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    eddy__rt_msg_t m;
    char err[128];
    cr_assert_eq(parse(cases[i].text, &m, err), EDDY__RT_BROKEN, "%s",
                 cases[i].text);
    cr_assert_str_eq(err, cases[i].err, "%s", cases[i].text);
    cr_assert_str_eq(m.id, "null");
  }
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

/* Every proper prefix of a valid message is refused as malformed, and the
 * parser reads nothing past the length it is given: each prefix is copied
 * into a buffer of exactly its size. */
Test(rt_protocol, prefixes_byte_by_byte) {
  const char *full =
      "{\"op\":\"subscribe\",\"id\":\"x\",\"channel\":\"chat:a\","
      "\"recover\":{\"epoch\":\"0123456789abcdef\",\"offset\":3}}";
  size_t n = strlen(full);
  for (size_t len = 0; len < n; len++) {
    char *buf = malloc(len + 1);
    memcpy(buf, full, len);
    eddy__rt_msg_t m;
    char err[128];
    int rc = eddy__rt_parse(buf, len, &m, err, sizeof(err));
    cr_assert_eq(rc, EDDY__RT_BROKEN, "prefix of %zu bytes", len);
    free(buf);
  }
  eddy__rt_msg_t m;
  char err[128];
  cr_assert_eq(eddy__rt_parse(full, n, &m, err, sizeof(err)), 0);
  eddy__rt_msg_clear(&m);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_protocol, unknown_field_message_is_valid_utf8) {
  /* A long field name of multi-byte characters is cut at a character
   * boundary: the error goes out in a text frame. */
  char text[600];
  strcpy(text, "{\"op\":\"ping\",\"");
  for (int i = 0; i < 100; i++)
    strcat(text, "\xc3\xa9");
  strcat(text, "\":1}");
  eddy__rt_msg_t m;
  char err[128];
  cr_assert_eq(parse(text, &m, err), 400);
  cr_assert_eq(eddy_utf8_valid(err, strlen(err)), 0);
  cr_assert_eq(strncmp(err, "unknown field \xc3\xa9", 16), 0);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_protocol, channel_names) {
  cr_assert(eddy__rt_channel_valid("a", 1));
  cr_assert(eddy__rt_channel_valid("chat:lobby:x/y#z", 16));
  cr_assert(eddy__rt_channel_valid(":x", 2) == 0); /* empty namespace */
  cr_assert(eddy__rt_channel_valid("a\"b", 3) == 0);
  cr_assert(eddy__rt_channel_valid("a\\b", 3) == 0);
  cr_assert(eddy__rt_channel_valid("a\x7f", 2) == 0);
  cr_assert(eddy__rt_channel_valid("\xc3\xa9", 2) == 0);
  char longname[300];
  memset(longname, 'x', sizeof(longname));
  cr_assert(eddy__rt_channel_valid(longname, 255));
  cr_assert(eddy__rt_channel_valid(longname, 256) == 0);
  cr_assert_eq(eddy__rt_channel_ns_len("chat:a:b", 8), 4);
  cr_assert_eq(eddy__rt_channel_ns_len("plain", 5), 0);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_protocol, encoders) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy__rt_encode_error(&b, "\"q\"", 404, "no \"such\"\n"), 0);
  eddy_buf_append(&b, "", 1);
  cr_assert_str_eq(b.data, "{\"op\":\"error\",\"id\":\"q\",\"code\":404,"
                           "\"message\":\"no \\\"such\\\"\\n\"}");
  eddy_buf_clear(&b);
  cr_assert_eq(eddy__rt_encode_disconnect(&b, 4008, "send queue full"), 0);
  eddy_buf_append(&b, "", 1);
  cr_assert_str_eq(b.data, "{\"op\":\"disconnect\",\"code\":4008,\"reason\":"
                           "\"send queue full\"}");
  eddy_buf_clear(&b);
  cr_assert_eq(eddy__rt_encode_message(&b, "c:d", 3, 7, "[1,2]", 5, NULL, NULL),
               0);
  eddy_buf_append(&b, "", 1);
  cr_assert_str_eq(b.data, "{\"op\":\"message\",\"channel\":\"c:d\","
                           "\"offset\":7,\"data\":[1,2]}");
  eddy_buf_clear(&b);
  cr_assert_eq(eddy__rt_encode_message(&b, "c", 1, 0, "1", 1, "12", "\x01u"),
               0);
  eddy_buf_append(&b, "", 1);
  cr_assert_str_eq(b.data, "{\"op\":\"message\",\"channel\":\"c\",\"offset\":0,"
                           "\"data\":1,\"info\":{\"client\":\"12\",\"user\":"
                           "\"\\u0001u\"}}");
  eddy_buf_clear(&b);
  cr_assert_eq(eddy__rt_json_str(&b, "a\\b\tc\r\x1f\xc3\xa9", 9), 0);
  eddy_buf_append(&b, "", 1);
  cr_assert_str_eq(b.data, "\"a\\\\b\\tc\\r\\u001f\xc3\xa9\"");
  eddy_buf_free(&b);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}
