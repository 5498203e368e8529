"""Drives the real `humanhours` Python SDK (PyPI, 0.0.1) against this server.

Run by tests/sdk.rs with HUMANHOURS_BASE_URL and HUMANHOURS_API_KEY set. Exits non-zero with a
message on the first mismatch.
"""

import os
import sys

from humanhours import Humanhours, HumanhoursError, track

base = os.environ["HUMANHOURS_BASE_URL"]
key = os.environ["HUMANHOURS_API_KEY"]


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


hh = Humanhours(api_key=key, base_url=base)

r = hh.track(agent_id="support-bot", task_type="email_classification", outcome="success",
             agent_duration_seconds=4)
check(r["hours_saved"] == 0.066 and r["cost_saved"] == 2.97, f"seed example via the SDK: {r}")
check(r["event_id"].startswith("evt_"), "event id")

first = hh.track(agent_id="a", task_type="ticket_routing", outcome="success", idempotency_key="sdk-1")
again = hh.track(agent_id="a", task_type="ticket_routing", outcome="success", idempotency_key="sdk-1")
check(first["event_id"] == again["event_id"], "replay through the SDK returns the first event")

try:
    hh.track(agent_id="a", task_type="no_such_type", outcome="success")
    check(False, "unknown task type raises")
except HumanhoursError as e:
    check(e.code == "unknown_task_type" and e.status == 422 and e.hint, f"error code, status, hint: {e.code}")

try:
    Humanhours(api_key="hh_live_bad", base_url=base).track(agent_id="a", task_type="ticket_routing", outcome="success")
    check(False, "bad key raises")
except HumanhoursError as e:
    check(e.code == "invalid_api_key" and e.status == 401, "invalid key code")

calls = []


@track(hh, task_type="customer_email_draft", agent_id="drafter",
       metadata_fn=lambda out: {"client": "acme", "length": len(out)})
def draft(name):
    calls.append(name)
    return f"Dear {name}"


check(draft("Ada") == "Dear Ada" and calls == ["Ada"], "decorated function runs")
r = hh.track(agent_id="drafter", task_type="customer_email_draft", outcome="needs_review",
             agent_duration_seconds=0.000123456789, metadata={"client": "acme"})
check(r["agent_duration_seconds"] == 0.000123456789, "a float duration in Python's repr is kept exactly")

s = hh.summary()
check(s["events"] == 4 and s["period"] == "30d", f"hh.summary(): {s['events']} events")
check(isinstance(s["hours_saved"], float) and s["hours_saved"] > 0, "summary hours are JSON numbers")
check(set(s["by_outcome"]) == {"success", "failure", "needs_review"} and len(s["trend"]) == 31,
      "summary by outcome and daily trend")
check(hh.summary(agent_id="drafter")["events"] == 2, "hh.summary(agent_id=...) filters")

a = hh.agents()
check(sorted(x["agent_id"] for x in a["agents"]) == ["a", "drafter", "support-bot"], "hh.agents()")
check(all("last_30_days" in x and "effective_hourly_rate" in x for x in a["agents"]), "agent fields")

rep = hh.report("/time-saved", {"group_by": "agent"})
check(rep["rows"][0]["agent"] == "drafter" and len(rep["rows"]) == 3,
      "hh.report('/time-saved', group_by=agent)")
check(abs(sum(r["hours_saved"] for r in rep["rows"]) - s["hours_saved"]) < 1e-9, "report rows sum to the summary")

try:
    hh.report("/time-saved", {"group_by": "planet"})
    check(False, "bad group_by raises")
except HumanhoursError as e:
    check(e.code == "validation_error" and e.status == 422, "bad group_by is a validation_error")
print("sdk smoke: all passed")
