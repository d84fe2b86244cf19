/*
 * The bench's yardstick: the least a Kore 4.1 handler can do.  It is
 * built from the same Kore objects and flags as rollcall (make
 * bench-bare) and started beside it by scripts/bench/speed_bench.py, so
 * that rollcall's routes can be reported as a ratio to it.
 */
#include <kore/kore.h>
#include <kore/http.h>

int	page_ok(struct http_request *);

int
page_ok(struct http_request *req)
{
	static const char	body[] = "{\"ok\":true}";

	http_response_header(req, "content-type", "application/json");
	http_response(req, HTTP_STATUS_OK, body, sizeof(body) - 1);
	return (KORE_RESULT_OK);
}
