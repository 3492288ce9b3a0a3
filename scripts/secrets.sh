#!/usr/bin/env bash
# Generates the stack's secrets in deploy/secrets/ (git-ignored) on first
# use; existing files are kept, so running it again changes nothing.
#   db_password.txt     PostgreSQL password of the inventory role
#   api_key.txt         an API key the API accepts for automation
#   admin_password.txt  the password of the UI's admin account
# The directory is private to you; the files are readable inside the
# containers, which run as UID 1001 (Compose mounts file secrets as they are).
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/deploy/secrets"
mkdir -p "$dir"
chmod 0700 "$dir"
gen() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | cut -c1-"$1"; }
for name in db_password api_key admin_password; do
	f="$dir/$name.txt"
	if [ -s "$f" ]; then
		continue
	fi
	case "$name" in
	api_key) value="dex_$(gen 40)" ;;
	*) value="$(gen 32)" ;;
	esac
	(umask 022 && printf '%s\n' "$value" >"$f")
	echo "secrets: wrote $f"
done
