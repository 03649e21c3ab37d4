#!/bin/sh
# The vpccni OCI image, built with no registry pulls (root; `make image` installs mmdebstrap and umoci):
#   1. vpccni and every Python dependency as wheels, through pip and the package index pip is set up for;
#   2. a Debian bookworm root filesystem from Debian's packages (mmdebstrap, minbase + python3), the wheels
#      installed into a venv at /opt/vpccni with no index (nothing else is fetched inside the chroot);
#   3. one layer and the image config assembled with umoci into an OCI layout, archived for
#      `ctr images import` / `skopeo copy oci-archive:...` (README: pushing it to ECR).
# Usage: deploy/image/build.sh PYTHON OUT_DIR VERSION
set -eu
PYTHON=$1
OUT=$2
VERSION=$3
HERE=$(dirname "$0")
SUITE=bookworm  # its python3 is 3.11, the interpreter the wheels are built for

rm -rf "$OUT/wheels" "$OUT/oci" "$OUT/rootfs.tar" "$OUT/vpccni-image.tar"
mkdir -p "$OUT/wheels"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$OUT/wheels" .
mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates --mode=root \
  --customize-hook="copy-in $OUT/wheels /tmp" \
  --customize-hook='chroot "$1" python3 -m venv /opt/vpccni' \
  --customize-hook='chroot "$1" /opt/vpccni/bin/pip install --quiet --no-index --find-links /tmp/wheels vpccni' \
  --customize-hook='rm -rf "$1/tmp/wheels" "$1/root/.cache"' \
  --customize-hook="copy-in $HERE/vpccni-aws-node /usr/local/bin" \
  --customize-hook='ln -s /opt/vpccni/bin/vpccni "$1/usr/local/bin/vpccni"' \
  "$SUITE" "$OUT/rootfs.tar"
umoci init --layout "$OUT/oci"
umoci new --image "$OUT/oci:$VERSION"
umoci raw add-layer --image "$OUT/oci:$VERSION" "$OUT/rootfs.tar"
umoci config --image "$OUT/oci:$VERSION" \
  --config.env PATH=/opt/vpccni/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.entrypoint vpccni --config.workingdir / \
  --author vpccni --architecture "$(dpkg --print-architecture)" --os linux
tar -C "$OUT/oci" -cf "$OUT/vpccni-image.tar" .
rm -rf "$OUT/rootfs.tar" "$OUT/wheels"
echo "image: $OUT/vpccni-image.tar (OCI archive, tag $VERSION)"
