#!/bin/sh
# Creates, once, the key material the compose setup shares through volumes:
#   - the hub's XML signing key and certificate (both hub instances sign with
#     the same identity, so agencies trust one hub certificate);
#   - one key per simulated agency, for agencysim;
#   - the trust store holding every certificate (hub + agencies), read by the
#     hubs (to verify ACKs) and by agencysim (to verify the hub's messages).
# The lane-decision Ed25519 key is created by the first hub that starts (race
# safe: it is linked into place atomically) in the same keys volume.
# Re-running is a no-op; delete the volumes to start over.
set -eu
KEYS=${GATEHUB_KEYS_DIR:-/etc/gatehub/keys}
TRUST=${GATEHUB_TRUST_DIR:-/etc/gatehub/trust}
AGENCY_KEYS=${AGENCY_KEYS_DIR:-/var/lib/gatehub-agencysim/keys}

if [ ! -f "$KEYS/hub.key.pem" ]; then
  gatehubctl keys gen -participant hub -alg rsa-2048 -dir "$KEYS" -trust "$TRUST"
else
  echo "hub key present in $KEYS"
fi
for agency in customs borderguard vehicleregistry guangxi; do
  if [ ! -f "$AGENCY_KEYS/$agency.key.pem" ]; then
    gatehubctl keys gen -participant "$agency" -alg ecdsa-p256 -dir "$AGENCY_KEYS" -trust "$TRUST"
  else
    echo "$agency key present in $AGENCY_KEYS"
  fi
done
