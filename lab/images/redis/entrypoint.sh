#!/bin/sh
# Write the server's config (requirepass from the env, not argv), then run it as the redis user.
set -eu
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  REDIS_PASSWORD=$(cat "$REDIS_PASSWORD_FILE")
fi
if [ "${1:-}" = "redis-server" ]; then
  shift
  conf=/run/redis.conf
  umask 077
  {
    printf 'bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nappendonly yes\n'
    if [ -n "${REDIS_PASSWORD:-}" ]; then printf 'requirepass "%s"\n' "$REDIS_PASSWORD"; fi
  } > "$conf"
  chown redis:redis "$conf" /data
  unset REDIS_PASSWORD
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$conf" "$@"
fi
exec "$@"
