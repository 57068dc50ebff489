#!/bin/bash
# Lane demo: one truck through gate HUUNGHI lane EXP-1, end to end, with curl.
#
#   1. a trader submits a declaration to hub 1;
#   2. the agencies (agencysim) receive the signed messages and call back
#      with signed ACKs; the script polls the decision until CLEARED;
#   3. gatesim plays the lane's devices against hub 2 (another instance:
#      the declaration is found through the shared database, and the lane
#      decision reaches the barrier's stream through Redis): the barrier
#      listens to the lane's event stream, the plate camera and the
#      weighbridge report, and the barrier verifies the signed lane
#      decision with the lane public key before it opens.
#
# The tokens are the DEVELOPMENT tokens of deploy/tokens.dev.yaml and
# deploy/gates/. Needs bash, curl, sed, date, od and gatesim (all in the
# gatehub image).
set -euo pipefail

HUB_URL=${HUB_URL:-http://hub-1:8080}
HUB2_URL=${HUB2_URL:-$HUB_URL}
GATE=${GATE:-HUUNGHI}
LANE=${LANE:-EXP-1}
TRADER_TOKEN=${TRADER_TOKEN:-dev-trader-0101234567}
CAMERA_TOKEN=${CAMERA_TOKEN:-dev-$GATE-$LANE-camera}
SCALE_TOKEN=${SCALE_TOKEN:-dev-$GATE-$LANE-scale}
BARRIER_TOKEN=${BARRIER_TOKEN:-dev-$GATE-$LANE-barrier}
LANE_PUBLIC_KEY=${LANE_PUBLIC_KEY:-/etc/gatehub/keys/lane-decision-ed25519.pub.pem}
TIMEOUT=${TIMEOUT:-90}

log() { printf '\n== %s\n' "$*"; }
field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

log "waiting for $HUB_URL and $HUB2_URL to be ready"
for url in "$HUB_URL" "$HUB2_URL"; do
  for i in $(seq "$TIMEOUT"); do
    curl -fsS -o /dev/null "$url/readyz" && break
    [ "$i" -eq "$TIMEOUT" ] && { echo "$url not ready after ${TIMEOUT}s" >&2; exit 1; }
    sleep 1
  done
done

serial=$(( $(rand) % 90000 + 10000 ))
plate_vn="12C-$serial"
plate_cn="桂A$serial"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
in_a_year=$(date -u -d '+1 year' +%F)
declaration=$(cat <<JSON
{
  "trader": {"name": "Công ty TNHH Xuất nhập khẩu Nông sản Lạng Sơn", "taxCode": "0101234567", "country": "VN"},
  "customsDeclarationNumbers": ["305123456789"],
  "direction": "export",
  "cargoKind": "general",
  "gate": "$GATE",
  "lane": "$LANE",
  "plannedCrossing": "$now",
  "vehicle": {
    "plateVN": "$plate_vn", "plateCN": "$plate_cn", "vin": "LZZ5BLSJ8KW123456",
    "grossWeightKg": 38000, "tareWeightKg": 14500,
    "inspectionCertificate": {"number": "KD-1204-2026-078912", "expiresOn": "$in_a_year"},
    "crossBorderPermit": {"number": "VN-CN-GP-2026-004512", "expiresOn": "$in_a_year"}
  },
  "drivers": [{"name": "Nguyễn Văn Hùng", "nameCN": "阮文雄", "nationality": "VN", "idNumber": "020085012345",
               "borderPass": {"number": "GTXC-LS-2026-01872", "expiresOn": "$in_a_year"}}],
  "consignments": [{"hsCodeVN": "40012220", "hsCodeCN": "4001220000", "description": "Cao su thiên nhiên SVR 10", "descriptionCN": "技术分级天然橡胶 SVR 10", "packages": 360,
                    "packageKind": "BE", "grossWeightKg": 23000, "value": 37600, "currency": "USD",
                    "containers": [{"number": "CSQU3054383", "seal": "VN2026118812"}]}],
  "consignor": {"name": "Công ty TNHH Xuất nhập khẩu Nông sản Lạng Sơn", "taxCode": "0101234567", "country": "VN"},
  "consignee": {"name": "Pingxiang Hengda Import and Export Trading Co., Ltd.", "nameCN": "凭祥市恒达进出口贸易有限公司", "taxCode": "91451481MA5NXY123K", "country": "CN"}
}
JSON
)

log "1. trader submits a declaration for $plate_vn / $plate_cn to $HUB_URL"
resp=$(curl -fsS -X POST "$HUB_URL/v1/declarations" \
  -H "Authorization: Bearer $TRADER_TOKEN" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: lane-demo-$serial-$now" --data-binary "$declaration")
id=$(printf '%s' "$resp" | field id)
echo "declaration $id"

log "2. waiting for the agencies' ACKs"
status=""
for i in $(seq "$TIMEOUT"); do
  status=$(curl -fsS -H "Authorization: Bearer $TRADER_TOKEN" "$HUB_URL/v1/declarations/$id/decision" | field status)
  echo "decision: $status"
  case $status in
    CLEARED) break ;;
    REJECTED|HOLD|CANCELLED)
      curl -fsS -H "Authorization: Bearer $TRADER_TOKEN" "$HUB_URL/v1/declarations/$id/decision"; exit 1 ;;
  esac
  sleep 1
done
[ "$status" = CLEARED ] || { echo "not cleared after ${TIMEOUT}s" >&2; exit 1; }

log "3. the lane's devices on $HUB2_URL (gatesim)"
exec gatesim -hub "$HUB2_URL" -gate "$GATE" -lane "$LANE" -plate "$plate_vn" -weight 38120 \
  -camera-token "$CAMERA_TOKEN" -scale-token "$SCALE_TOKEN" -barrier-token "$BARRIER_TOKEN" \
  -keys "$LANE_PUBLIC_KEY" -timeout "${TIMEOUT}s"
