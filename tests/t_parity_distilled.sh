#!/usr/bin/env bash
# Parity with torch_nst.py on the distilled VGG19: tests/t_parity.sh's checks and bounds (row 0,
# Adam row 10, L-BFGS after 50, the start gradient, every backend against scalar) on
# build/vgg19-distilled.nstw with per-layer style weights and layers on taps and trunk.
exec env NST_PARITY_NETWORK=distilled bash "$(dirname "$0")/t_parity.sh"
