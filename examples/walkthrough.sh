#!/usr/bin/env bash
# The README's walkthrough, as one script that runs as written: draft a contract, make it
# ready and activate it; an SLA penalty rule, a breach, its credit, a dispute and its
# resolution; governance; then the read side. Every If-Match is the ETag that the
# contract's previous answer carried. The test suite runs it against gunicorn on SQLite
# and on PostgreSQL (tests/e2e/test_walkthrough_e2e.py).
#
#   export TOKEN=lgr_...          # admin or procurement: the token `make run` printed, or
#                                 #   .venv/bin/ledger apikey create --role procurement
#   export VENDOR_TOKEN=$(.venv/bin/ledger apikey create --role vendor --vendor acme)
#   examples/walkthrough.sh [http://127.0.0.1:8000]
#
# Needs bash, curl and jq. Each run drafts a contract of its own. It stops at the first
# answer that is not 2xx (printing the problem), or at a figure that is not the README's.
set -euo pipefail

URL=${1:-http://127.0.0.1:8000}
TOKEN=${TOKEN:?set TOKEN to an admin or procurement token}
VENDOR_TOKEN=${VENDOR_TOKEN:?set VENDOR_TOKEN to a token of vendor acme}
HEADERS=$(mktemp)
trap 'rm -f "$HEADERS"' EXIT
ETAG=
# request METHOD PATH [JSON] [TOKEN] [IF_MATCH]: one request; prints its status line and
# keeps the body in $BODY, a contract's ETag in $ETAG and a write's position in $POS.
request() {
  local args=(-sS -X "$1" "$URL$2" -D "$HEADERS" -w '\n%{http_code}'
              -H "Authorization: Bearer ${4:-$TOKEN}")
  if [ -n "${3:-}" ]; then args+=(-H 'Content-Type: application/json' -d "$3"); fi
  if [ -n "${5:-}" ]; then args+=(-H "If-Match: $5"); fi
  local answer status etag
  answer=$(curl "${args[@]}")
  status=${answer##*$'\n'} BODY=${answer%$'\n'*}
  etag=$(header ETag) POS=$(header Ledger-Position)
  ETAG=${etag:-$ETAG}
  echo "$status $1 $2${etag:+  ETag: $etag}" >&2
  if [ "${status:0:1}" != 2 ]; then echo "$BODY" >&2; exit 1; fi
}
header() {  # header NAME: the value of a header of the last answer (or nothing)
  tr -d '\r' <"$HEADERS" | awk -v name="$1" 'tolower($1) == tolower(name) ":" {print $2}'
}
# A command on contract $C, sent with the version the last answer showed: post PATH JSON [TOKEN]
post() { request POST "/v1/contracts/$C$1" "$2" "${3:-$TOKEN}" "$ETAG"; }
get() { request GET "$1" "" "${2:-$TOKEN}"; }
# check JQ_FILTER EXPECTED: the last answer's body says what the README says
check() {
  local actual
  actual=$(jq -r "$1" <<<"$BODY")
  if [ "$actual" != "$2" ]; then echo "expected $1 = $2, got $actual" >&2; exit 1; fi
  echo "  $1 = $actual" >&2
}

# Draft: 1,096,000.00 EUR over the 1,096 days of 2026-2028, so 1,000.00 EUR a day.
request POST /v1/contracts '{
  "title": "Managed network services",
  "vendor": {"vendor_id": "acme", "name": "Acme Networks"},
  "service_scope": "network", "sourcing_model": "managed_service",
  "delivery_location": "nearshore",
  "value": {"amount": "1096000.00", "currency": "EUR"},
  "term": {"start": "2026-01-01", "end": "2028-12-31",
           "notice_period_days": 90, "renewal": "optional"},
  "objectives": ["Cut network run cost by 15%"]}'
C=$(jq -r .id <<<"$BODY")   # 201 Created, Location: /v1/contracts/$C, ETag: "1"

# Activation needs a point of contact, an SLA metric in force and an exit plan.
post /point-of-contact '{"name": "Ana Souza", "email": "ana@acme.example"}'
post /sla-metrics '{"metric_id": "availability", "name": "Network availability",
  "unit": "percent", "direction": "higher_is_better", "target": "99.9",
  "measurement_period": "monthly", "effective_from": "2026-01-01"}'
post /exit-plan '{"steps": [{"step_id": "handover", "mandatory": true,
    "description": "Hand over runbooks and configs", "owner": "Acme"}],
  "budget": {"amount": "50000.00", "currency": "EUR"}, "transition_period_days": 90,
  "data_return": "Configuration and tickets exported as JSON within 30 days"}'
post /activation '{"effective_date": "2026-01-01"}'
check .status active

# 1. A tiered penalty: below 99.9 -> 5% of the period fee, below 99.5 -> 10%;
#    at most 10% of the fee per period and 50,000.00 EUR per contract year.
post /rules '{
  "kind": "penalty", "rule_id": "availability-credit", "metric_id": "availability",
  "tiers": [{"threshold": "99.9", "percent": "5"}, {"threshold": "99.5", "percent": "10"}],
  "period_cap": {"percent_of_fee": "10"},
  "year_cap": {"amount": {"amount": "50000.00", "currency": "EUR"}},
  "earn_back_periods": 2, "missing_data": "breach", "effective_from": "2026-01-01"}'
# 2. The vendor reports a breach for January: PerformanceReported, SlaBreached and
#    PenaltyAssessed (5% of 31 days' fee = 1,550.00 EUR) commit in one append.
post /performance-reports '{
  "period": "2026-01", "values": [{"metric_id": "availability", "value": "99.82"}],
  "source": "vendor monitoring", "evidence_ref": "NOC-2026-01.pdf"}' "$VENDOR_TOKEN"
# 3. See the credit, its calculation, and the totals per period and contract year.
get "/v1/contracts/$C/credits"
check '.penalties[0].amount.amount' 1550.00
P=$(jq -r '.penalties[0].penalty_id' <<<"$BODY")
# 4. The vendor disputes it (within LEDGER_DISPUTE_WINDOW_DAYS of the assessment) ...
post "/penalties/$P/dispute" \
  '{"reason": "the outage followed the customer change CHG-1182"}' "$VENDOR_TOKEN"
# ... and procurement decides: upheld, overturned, or adjusted to an amount.
post "/penalties/$P/dispute-resolution" '{"outcome": "adjusted",
  "amount": {"amount": "775.00", "currency": "EUR"},
  "reason": "half of the outage was caused by the change"}'
get "/v1/contracts/$C/credits"
check '.totals.overall.credits_owed_by_vendor.amount' 775.00

# Cadence: SLA review monthly, scorecard quarterly, health check every 6 months.
post /governance-cadence '{"cadences": [
  {"kind": "sla_review", "every": 1, "unit": "months"},
  {"kind": "scorecard", "every": 3, "unit": "months"},
  {"kind": "health_check", "every": 6, "unit": "months"}]}'
# A health check and its findings, in one write.
post /health-checks '{
  "check_id": "hc-2026-h1", "conducted_on": "2026-06-30", "assessors": ["Ana", "Ben"],
  "scope": "delivery and security", "overall_rating": "amber",
  "findings": [{"finding_id": "patching", "category": "security", "severity": "critical",
                "description": "Patching lags 60 days", "owner": "Acme security lead",
                "due_date": "2026-09-30"}]}'
# A corrective action for the finding.
post /findings/patching/corrective-actions '{"action_id": "monthly",
  "description": "Monthly patch window", "owner": "Acme ops", "due_date": "2026-08-31"}'
# Watch for a critical finding left open past its due date: `ledger evaluate` (run it
# daily, e.g. from cron) records ExitTriggerFired with the evidence, once.
post /exit-triggers '{"trigger_id": "critical-open", "kind": "critical_finding_overdue"}'
# What is overdue as of a day:
get "/v1/contracts/$C?as_of_date=2026-10-01"
jq .governance <<<"$BODY"

# Amend the value from July and read the list as of that write (no stale read): the
# write's Ledger-Position, passed as min_position, makes the read wait for its view.
post /amendments '{"changes": {"value": {"amount": "1350000.00", "currency": "EUR"}},
  "rationale": "Two more sites", "effective_date": "2026-07-01"}'
AMENDED=$POS
get "/v1/contracts?vendor=acme&min_position=$AMENDED"
check "any(.items[]; .id == \"$C\" and .value.amount == \"1350000.00\")" true
# Active contracts whose notice deadline falls before 2029, largest first; then the
# next page, while there is one.
get "/v1/contracts?status=active&notice_deadline_before=2029-01-01&sort=-value&limit=10"
NEXT=$(jq -r .next_cursor <<<"$BODY")
while [ "$NEXT" != null ]; do
  get "/v1/contracts?status=active&notice_deadline_before=2029-01-01&sort=-value&limit=10&cursor=$NEXT"
  NEXT=$(jq -r .next_cursor <<<"$BODY")
done
# Concentration risk: who gets what share of the spend, per currency and service scope.
get "/v1/vendors?min_position=$AMENDED"
# A vendor's scorecard: compliance per metric and period, credits, findings, trend.
get "/v1/vendors/acme/scorecard?min_position=$AMENDED"
# An auditor: what did this key do since the draft, and what did each act change?
get "/v1/contracts/$C/audit?min_position=$AMENDED"
ACTOR=$(jq -r '.items[-1].actor.id' <<<"$BODY") SINCE=$(jq -r '.items[0].recorded_at' <<<"$BODY")
get "/v1/audit?actor=$ACTOR&recorded_from=$SINCE&type=TermsAmended&min_position=$AMENDED"
check '.items[0].changes[] | select(.path == "/value/amount") | .value' 1350000.00
