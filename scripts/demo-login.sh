#!/usr/bin/env bash
# make demo-login: one whole refresh-token login on loopback. bot-sim plays
# Schwab (its authorization endpoint says Allow at once) and the bot's
# receiver; curl -k plays the browser, accepting the login's throwaway
# certificate as a user would after checking its fingerprint (without curl,
# or with DEMO_BROWSER=go, a small Go browser that checks the fingerprint
# does). Then one run refreshes the new file. Everything lives in a temp
# dir that is removed afterwards, even when interrupted.
set -euo pipefail

prefix=rt-login
# shellcheck source=demo-common.sh
. "$(dirname "$0")/demo-common.sh"

# A free loopback port for the callback: 8182 as in Schwab's docs, else
# another; nothing must answer there.
port=
for p in 8182 $(seq 28182 28200); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port for the callback"; exit 1; }
callback=https://127.0.0.1:$port

cd "$work"
mkdir configs
sed "s|^callback_url:.*|callback_url: $callback|" "$top/testdata/schwab_app_config.yaml" >configs/schwab_app_config.yaml
# Last week's token file: the login replaces it whole.
sed "s/\"creation_timestamp\": [0-9]*/\"creation_timestamp\": $(($(date +%s) - 7 * 86400))/" \
	"$top/testdata/schwab_tokens.json" >configs/schwab_tokens.json
chmod 600 configs/schwab_tokens.json

key=$(sed -n 's/^app_key: *//p' configs/schwab_app_config.yaml)
secret=$(sed -n 's/^app_secret: *//p' configs/schwab_app_config.yaml)

say "Starting the fake Schwab (token and authorization endpoints) and the bot's receiver (bot-sim)"
"$bin/bot-sim" schwab --app-key "$key" --app-secret "$secret" --refresh-token RT-last-week \
	--callback-url "$callback" --url-file url >schwab.out 2>schwab.err &
pids+=($!)
"$bin/bot-sim" receive --socket "$work/bot.sock" --record received.jsonl \
	--ready-file ready >bot.out 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s url ] && [ -s ready ] && break; sleep 0.05; done
[ -s url ] && [ -s ready ] || { echo "bot-sim did not start"; cat schwab.err bot.out; exit 1; }
token_url=$(cat url)
authorize_url=${token_url%/token}/authorize
echo "token endpoint:  $token_url"
echo "authorize:       $authorize_url"
echo "callback:        $callback"

say "refresh-token login --token-url ... --authorize-url ... --socket $work/bot.sock"
"$bin/refresh-token" login --token-url "$token_url" --authorize-url "$authorize_url" \
	--socket "$work/bot.sock" --no-browser >login.out 2>login.err &
login=$!
pids+=("$login")
for _ in $(seq 200); do grep -q 'fingerprint is' login.out 2>/dev/null && grep -q '^  [0-9A-F][0-9A-F]:' login.out && break; sleep 0.05; done
cat login.out
auth=$(grep -E '^https?://[^ ]+\?response_type=code&' login.out)

say "The browser opens the URL; Schwab redirects to the callback"
if [ "${DEMO_BROWSER:-curl}" = curl ] && command -v curl >/dev/null 2>&1; then
	echo "(curl -k -L: the demo's browser accepts the throwaway certificate)"
	curl -sS -k -L --max-time 30 "$auth" | sed -n 's|.*<p>\(.*\)</p>.*|page: \1|p'
else
	echo "(no curl: a Go browser that checks the certificate's fingerprint)"
	(cd "$top" && go run ./internal/demobrowser "$work/login.out")
fi

set +e
wait "$login"
code=$?
set -e
sleep 0.1
say "refresh-token login's output (exit code $code)"
sed -n '/^Logged in/,$p' login.out
cat login.err

say "What the bot received (tokens redacted)"
grep -v '^bot-sim: listening' bot.out || echo "(nothing)"

say "The next run refreshes the login's file"
"$bin/refresh-token" run --token-url "$token_url" --socket "$work/bot.sock" --force --log-file=

say "refresh-token status"
"$bin/refresh-token" status --socket "$work/bot.sock" || true
exit "$code"
