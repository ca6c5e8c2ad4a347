#!/usr/bin/env bash
# make demo: one full refresh-token cycle against the fake Schwab endpoint
# and the bot's receiver (bot-sim), on loopback, in a temp dir that is
# removed afterwards, even when interrupted.
set -euo pipefail

prefix=rt-demo
# shellcheck source=demo-common.sh
. "$(dirname "$0")/demo-common.sh"

cd "$work"
mkdir configs
cp "$top/testdata/schwab_app_config.yaml" configs/
# The seed token file, with a login made yesterday so the 7-day clock is sane.
sed "s/\"creation_timestamp\": [0-9]*/\"creation_timestamp\": $(($(date +%s) - 86400))/" \
	"$top/testdata/schwab_tokens.json" > configs/schwab_tokens.json
chmod 600 configs/schwab_tokens.json

key=$(sed -n 's/^app_key: *//p' configs/schwab_app_config.yaml)
secret=$(sed -n 's/^app_secret: *//p' configs/schwab_app_config.yaml)
rt=$(sed -n 's/.*"refresh_token": "\(.*\)".*/\1/p' configs/schwab_tokens.json)

say "Starting the fake Schwab token endpoint and the bot's receiver (bot-sim)"
"$bin/bot-sim" schwab --app-key "$key" --app-secret "$secret" --refresh-token "$rt" \
	--url-file url >schwab.out 2>schwab.err &
pids+=($!)
"$bin/bot-sim" receive --socket "$work/bot.sock" --record received.jsonl \
	--ready-file ready >bot.out 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s url ] && [ -s ready ] && break; sleep 0.05; done
[ -s url ] && [ -s ready ] || { echo "bot-sim did not start"; cat schwab.err bot.out; exit 1; }
echo "token endpoint: $(cat url)"
echo "bot socket:     $work/bot.sock"

say "refresh-token --token-url $(cat url) --socket $work/bot.sock"
set +e
"$bin/refresh-token" --token-url "$(cat url)" --socket "$work/bot.sock"
code=$?
set -e
echo "exit code: $code"

say "What the bot received (tokens redacted)"
sleep 0.1
grep -v '^bot-sim: listening' bot.out || echo "(nothing)"

say "refresh-token status"
"$bin/refresh-token" status --socket "$work/bot.sock" || true

say "The token file's log (logs/token_refresh_sender.log)"
cat logs/token_refresh_sender.log
exit "$code"
