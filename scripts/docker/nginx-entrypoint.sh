#!/bin/sh
# Makes a self-signed certificate for trials when none is mounted, then
# runs nginx in the foreground.  Entra refuses self-signed certificates:
# mount a publicly trusted one for real provisioning (README).
set -eu
dir=/etc/rollcall/tls
if [ ! -s "$dir/tls.crt" ] || [ ! -s "$dir/tls.key" ]; then
	mkdir -p "$dir"
	name=${ROLLCALL_TLS_NAME:-localhost}
	openssl req -x509 -newkey rsa:2048 -sha256 -days 90 -nodes \
	    -subj "/CN=$name" -addext "subjectAltName=DNS:$name" \
	    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
	chmod 600 "$dir/tls.key"
	echo "generated a self-signed certificate for $name (trials only)"
fi
exec nginx -g 'daemon off;'
