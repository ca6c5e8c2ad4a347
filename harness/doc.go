// Package harness fakes the two systems refresh-token talks to: Schwab's token endpoint and the trading bot's socket receiver.
//
// [Schwab] is an [net/http.Handler] that checks requests the way Schwab's
// POST /v1/oauth/token does and answers with any of the response classes
// the real endpoint (or the CDN in front of it) has been seen to produce,
// selected per request by a sequence of [Mode] values. Its
// [Schwab.Handler] also serves the browser login: [AuthorizePath] redirects
// at once to the registered callback URL with a code and the state (or
// with error=access_denied, see [Authorize]), and the token endpoint takes
// the authorization_code grant for codes that are single use, expire, and
// are bound to their redirect_uri.
//
// [Receiver] reproduces the bot's two socket receivers (docs/BOT.md sets
// them side by side). By default it is the JSON receiver of
// token_manager.cpp: one connection carries one JSON message, read with a
// single recv of at most 4095 bytes, answered with exactly "OK" or "ERROR";
// backlog 5; the socket's mode left to the umask. Receiver.Parse chooses
// between the protocol's contract ([ParseMessage]) and what the bot's JSON
// library really accepts ([ParseMessageLenient]); Receiver.DieOnEarlyClose
// stops it, as SIGPIPE kills the bot, when a client leaves before the reply.
// With Receiver.NoAck it is TokenReceiver, the one the bot's build
// compiles: one recv of up to 8192 bytes, a 5 s receive timeout, no reply.
//
// It differs from the C++ code on purpose in two places, each a known flaw
// of the original that tests should not depend on:
//
//   - it applies an update only when the whole message is valid (the C++
//     code assigns both tokens before it parses expires_at, so a bad
//     expires_at leaves a half-applied update);
//   - the JSON receiver sets a read deadline per connection (the C++ code
//     sets none, so a silent client blocks it forever); a zero ReadTimeout
//     in bot-sim, -1 in the Receiver, restores the original.
//
// Like the C++ code, it closes a connection without reading what is left of
// a message longer than its read; the kernel then resets the connection,
// so the sender reads "ERROR" followed by ECONNRESET rather than EOF.
//
// Connections are handled one at a time, as the C++ accept loop does: a slow
// acknowledgement delays the next client.
//
// The bot-sim command (see [Main]) serves both as processes.
package harness
