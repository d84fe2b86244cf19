#!/bin/sh
# nginx container entrypoint: makes a self-signed certificate for trials
# when none is mounted (Entra refuses self-signed certificates: mount a
# publicly trusted one for real provisioning, README), points nginx's
# resolver at the container's DNS server (so the rollcall upstream is
# looked up again after that container restarts), runs nginx.
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
ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
case $ns in
*:*)	ns="[$ns]" ;;
"")	ns=127.0.0.11 ;;
esac
echo "resolver $ns valid=5s ipv6=off;" > /etc/nginx/conf.d/00-resolver.conf
exec nginx -g 'daemon off;'
