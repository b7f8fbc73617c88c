#!/bin/sh
# Entrypoint of the Compose gateway (the official nginx image, Debian based).
#
# Open-source nginx resolves the servers of an upstream block once, at (re)load. To keep
# consistent-hash stickiness over a service scaled with `docker compose up --scale node=N`, this
# script renders gateway/nginx.conf.tmpl, writes one upstream server line per replica address
# that Docker's DNS (127.0.0.11) returns for the service name, starts nginx, and re-resolves
# every FLOWSTATE_RESOLVE_INTERVAL seconds: when the set of replicas changes it rewrites the
# list and reloads nginx gracefully (SIGHUP: open connections are not dropped).
set -eu

TEMPLATE=${FLOWSTATE_GATEWAY_TEMPLATE:-/etc/flowstate/nginx.conf.tmpl}
SERVICE=${FLOWSTATE_UPSTREAM_SERVICE:-node}
PORT=${FLOWSTATE_UPSTREAM_PORT:-8081}
LISTEN=${FLOWSTATE_GATEWAY_LISTEN:-8080}
INTERVAL=${FLOWSTATE_RESOLVE_INTERVAL:-5}
WWW=${FLOWSTATE_WWW_ROOT:-/usr/share/flowstate/www}
DOCS=${FLOWSTATE_DOCS_ROOT:-/usr/share/flowstate/docs}
WORKER_USER=${FLOWSTATE_GATEWAY_USER:-nginx}
RUN=${FLOWSTATE_GATEWAY_RUN_DIR:-/var/run/flowstate}
CONF=$RUN/nginx.conf
UPSTREAMS=$RUN/upstream_servers.conf

mkdir -p "$RUN/tmp"

log() { echo "gateway: $*" >&2; }

# Replica addresses, one per line, sorted so that an unchanged set compares equal.
resolve() {
	getent ahostsv4 "$SERVICE" 2>/dev/null | awk '{ print $1 }' | sort -u
}

# Rewrite the upstream list; exit status 0 when it changed.
write_upstreams() {
	addrs=$(resolve)
	[ -n "$addrs" ] || return 1
	{
		echo "# Written by gateway-entrypoint.sh from DNS: $SERVICE"
		for a in $addrs; do
			echo "server $a:$PORT max_fails=1 fail_timeout=2s;"
		done
	} >"$UPSTREAMS.new"
	if [ -f "$UPSTREAMS" ] && cmp -s "$UPSTREAMS" "$UPSTREAMS.new"; then
		rm -f "$UPSTREAMS.new"
		return 1
	fi
	mv "$UPSTREAMS.new" "$UPSTREAMS"
	log "upstreams:" $addrs
	return 0
}

nofile=$(ulimit -n)
sed -e "s|{{user_directive}}|user $WORKER_USER;|" \
    -e "s|{{worker_rlimit_nofile}}|$nofile|" \
    -e "s|{{worker_connections}}|$((nofile / 2 > 1024 ? nofile / 2 : 1024))|" \
    -e "s|{{pid_path}}|$RUN/nginx.pid|" \
    -e "s|{{error_log}}|/dev/stderr|" \
    -e "s|{{access_log}}|/dev/stdout|" \
    -e "s|{{temp_dir}}|$RUN/tmp|" \
    -e "s|{{listen}}|$LISTEN|" \
    -e "s|{{upstream_servers_file}}|$UPSTREAMS|" \
    -e "s|{{www_root}}|$WWW|" \
    -e "s|{{docs_root}}|$DOCS|" \
    "$TEMPLATE" >"$CONF"
if grep -n '{{' "$CONF" >&2; then
	log "unrendered placeholders in $TEMPLATE"
	exit 1
fi

until write_upstreams; do
	log "waiting for DNS to return replicas of '$SERVICE'"
	sleep 1
done

nginx -t -c "$CONF"
nginx -c "$CONF" &
nginx_pid=$!

stop() {
	kill -QUIT "$nginx_pid" 2>/dev/null || true
	wait "$nginx_pid" || true
	exit 0
}
trap stop TERM INT QUIT

while kill -0 "$nginx_pid" 2>/dev/null; do
	sleep "$INTERVAL" &
	wait $! || true
	if write_upstreams; then
		if nginx -t -q -c "$CONF"; then
			kill -HUP "$nginx_pid"
		else
			log "new upstream list rejected; keeping the running configuration"
		fi
	fi
done
wait "$nginx_pid"
