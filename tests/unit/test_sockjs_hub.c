/* test_sockjs_hub.c — SockJS sessions as clients of the real-time hub
 * (eddy_rt_sockjs_handlers): requests and replies go through the session,
 * publications reach it, and closing the hub closes the session. */
#include "support.h"

#include <eddy/http_server.h>
#include <eddy/realtime.h>
#include <eddy/sockjs.h>
#include <stdio.h>
#include <string.h>

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

static void post(eddy_reactor_t *r, eddy_string_transport_t *st,
                 const char *path, const char *body) {
  char buf[2048];
  int n =
      snprintf(buf, sizeof(buf),
               "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
               path, strlen(body), body);
  eddy_string_transport_clear(st);
  eddy_string_transport_feed(st, buf, (size_t)n);
  spin(r);
}

static const char *body(eddy_string_transport_t *st) {
  const char *o = eddy_string_transport_value(st, NULL);
  const char *b = strstr(o, "\r\n\r\n");
  cr_assert_not_null(b, "no answer yet: %s", o);
  return b + 4;
}

static void done(void *arg) {
  (*(int *)arg)++;
}

Test(sockjs_hub, session_is_a_hub_client) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub;
  cr_assert_eq(eddy_rt_new(r, NULL, &hub), 0);
  eddy_sockjs_config_t cfg;
  eddy_sockjs_config_init(&cfg);
  eddy_sockjs_t *sj;
  cr_assert_eq(eddy_sockjs_new(r, &cfg, eddy_rt_sockjs_handlers(), hub, &sj),
               0);
  eddy_http_server_t *http;
  cr_assert_eq(eddy_http_server_new(r, NULL, eddy_sockjs_handler, sj, &http),
               0);
  eddy_factory_t *fa = eddy_http_server_factory(http);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, fa->build_protocol(fa, NULL));

  post(r, st, "/sockjs/1/s/xhr", "");
  cr_assert_str_eq(body(st), "o\n");
  post(r, st, "/sockjs/1/s/xhr_send",
       "[\"{\\\"op\\\":\\\"ping\\\",\\\"id\\\":7}\"]");
  cr_assert(strstr(eddy_string_transport_value(st, NULL), " 204 ") != NULL);
  post(r, st, "/sockjs/1/s/xhr", "");
  cr_assert(strstr(body(st), "pong") != NULL, "%s", body(st));
  cr_assert(strstr(body(st), "\\\"id\\\":7") != NULL, "%s", body(st));

  post(r, st, "/sockjs/1/s/xhr_send",
       "[\"{\\\"op\\\":\\\"subscribe\\\",\\\"id\\\":8,\\\"channel\\\":"
       "\\\"news\\\"}\"]");
  post(r, st, "/sockjs/1/s/xhr", "");
  cr_assert(strstr(body(st), "subscribed") != NULL, "%s", body(st));
  eddy_rt_published_t pub;
  cr_assert_eq(
      eddy_rt_publish(hub, "news", "{\"n\":1}", strlen("{\"n\":1}"), &pub), 0);
  cr_assert_eq(pub.subscribers, 1);
  spin(r);
  post(r, st, "/sockjs/1/s/xhr", "");
  cr_assert(strstr(body(st), "\\\"op\\\":\\\"message\\\"") != NULL, "%s",
            body(st));

  /* The hub stopping closes the session with its code. */
  int hub_done = 0, sj_done = 0;
  eddy_rt_close(hub, done, &hub_done);
  spin(r);
  cr_assert_eq(hub_done, 1);
  post(r, st, "/sockjs/1/s/xhr", "");
  cr_assert(strncmp(body(st), "c[4004,", 7) == 0, "%s", body(st));

  eddy_sockjs_close(sj, done, &sj_done);
  eddy_http_server_close(http, 0, NULL, NULL);
  eddy_string_transport_disconnect(st, 0);
  spin(r);
  cr_assert_eq(sj_done, 1);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}
