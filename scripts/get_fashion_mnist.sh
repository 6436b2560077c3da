#!/usr/bin/env bash
# Make Fashion-MNIST available offline: the Debian package where apt works, else torchvision's download.
# Idempotent and quiet when the data is already there.
set -euo pipefail
DEB_DIR=/usr/share/datasets/fashion-mnist
ROOT=${1:-data/fashion_mnist}
PY=${PYTHON:-python3}

have() { ls "$1"/train-images-idx3-ubyte* "$1"/t10k-labels-idx1-ubyte* >/dev/null 2>&1; }
if have "$DEB_DIR" || have "$ROOT" || have "$ROOT/FashionMNIST/raw"; then exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
  echo "Installing Fashion-MNIST from the Debian package dataset-fashion-mnist ..."
  if $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
     || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
    have "$DEB_DIR" && exit 0
  fi
  echo "apt-get could not install dataset-fashion-mnist; trying torchvision's download." >&2
fi
echo "Downloading Fashion-MNIST with torchvision into $ROOT ..."
"$PY" -c "import sys; from torchvision.datasets import FashionMNIST as F; [F(sys.argv[1], train=t, download=True) for t in (True, False)]" "$ROOT"
