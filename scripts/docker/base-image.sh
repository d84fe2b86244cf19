#!/bin/sh
# Makes the debian:bookworm base image the Dockerfiles start FROM, for
# machines with podman but no image registry: debootstrap (minbase) from
# the Debian mirror apt already uses, imported as localhost/debian:bookworm
# and tagged docker.io/library/debian:bookworm so FROM resolves locally.
# The root file system is cached as a tarball (RC_IMAGE_CACHE, default
# ~/.cache/rollcall), so later runs only import it (seconds).
# Needs root (debootstrap), podman and debootstrap.
set -eu

cache=${RC_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollcall}
tarball=$cache/debian-bookworm-minbase.tar

if podman image exists docker.io/library/debian:bookworm; then
	exit 0
fi
if [ ! -s "$tarball" ]; then
	mirror=${RC_DEBIAN_MIRROR:-}
	if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
		mirror=$(awk '/^URIs:/ { print $2; exit }' \
		    /etc/apt/sources.list.d/debian.sources)
	fi
	mirror=${mirror:-http://deb.debian.org/debian}
	mkdir -p "$cache"
	root=$(mktemp -d "$cache/rootfs.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	echo "debootstrap bookworm from $mirror (once; cached in $tarball)"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
	tar -C "$root" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
fi
podman import -q "$tarball" localhost/debian:bookworm >/dev/null
podman tag localhost/debian:bookworm docker.io/library/debian:bookworm
