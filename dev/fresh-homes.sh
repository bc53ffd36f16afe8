#!/usr/bin/env bash
# Give the test users (moss01 .. moss16) fresh home folders: each is removed and
# made again from /etc/skel, with the mode and owner it had. dev/test.sh runs this
# before its tests, on the host and inside the Slurm 24.11 chroot, so that every
# run sees the homes a fresh machine has: nothing an earlier run left (a folder,
# a file owned by root) can hide a failure. Run as root; takes well under a second.
#
#   dev/fresh-homes.sh              # the sixteen test users
#   dev/fresh-homes.sh moss03 ...   # only these
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "fresh-homes.sh must run as root" >&2
    exit 1
fi

if [ $# -gt 0 ]; then
    users=("$@")
else
    read -r -a users <<<"$(printf 'moss%02d ' $(seq 1 16))"
fi

for u in "${users[@]}"; do
    entry=$(getent passwd "$u") || { echo "fresh-homes: no user $u (dev/cluster-up.sh creates them)" >&2; exit 1; }
    home=$(cut -d: -f6 <<<"$entry")
    # Only a home of the usual shape is removed: never /, /root or a shared folder.
    if [ "$home" != "/home/$u" ]; then
        echo "fresh-homes: $u's home is $home, not /home/$u; left alone" >&2
        exit 1
    fi
    mode=755
    [ -d "$home" ] && mode=$(stat -c %a "$home")
    rm -rf --one-file-system -- "$home"
    install -d -m "$mode" -o "$u" -g "$(id -gn "$u")" "$home"
    cp -a /etc/skel/. "$home/"
    chown -R "$u:$(id -gn "$u")" "$home"
done
echo "fresh-homes: ${#users[@]} homes made anew"
