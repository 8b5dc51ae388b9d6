"""Governance: cadence, health checks, findings, corrective actions, reviews, proposals."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import event

from domain.contract.base import ContractEvent, ContractState
from domain.exceptions import (
    CorrectiveActionClosed,
    CorrectiveActionsOpen,
    DuplicateId,
    FindingClosed,
    IllegalProposalTransition,
    InvalidValue,
    NotTheProposer,
    UnknownCorrectiveAction,
    UnknownFinding,
    UnknownProposal,
)
from domain.governance import (
    Cadence,
    CadenceKind,
    FindingSpec,
    HealthRating,
    ProposalDecision,
    ReviewKind,
    Scorecard,
    check_saving,
)
from domain.money import Money
from domain.values import Provenance, check_slug, check_text


class Governance(ContractState):
    """The Contract aggregate's governance: events, commands and appliers (joined in base.py)."""

    class GovernanceCadenceDeclared(ContractEvent):
        cadences: tuple[Cadence, ...]

    def declare_cadence(self, cadences: tuple[Cadence, ...], provenance: Provenance) -> None:
        """Declare how often each review and the health check are due (replaces the last)."""
        self._check_not_terminated()
        kinds = [c.kind for c in cadences]
        if not cadences or len(set(kinds)) != len(kinds):
            repeat = next((n for n, kind in enumerate(kinds) if kind in kinds[:n]), None)
            raise InvalidValue("declare each cadence kind once, and at least one",
                               "/cadences" if repeat is None else f"/cadences/{repeat}/kind")
        self._governance_cadence_declared(cadences=tuple(cadences), provenance=provenance)

    @event(GovernanceCadenceDeclared)
    def _governance_cadence_declared(self, cadences: tuple[Cadence, ...],
                                     provenance: Provenance) -> None:
        self.cadences = {c.kind.value: c for c in cadences}

    def _check_new_id(self, kind: str, new_id: str, taken: Any) -> None:
        if new_id in taken:
            raise DuplicateId(f"{kind} {new_id!r} exists already")

    class HealthCheckConducted(ContractEvent):
        check_id: str
        conducted_on: date
        assessors: tuple[str, ...]
        scope: str
        overall_rating: HealthRating

    class FindingRecorded(ContractEvent):
        check_id: str
        finding: FindingSpec

    def conduct_health_check(self, check_id: str, conducted_on: date, assessors: tuple[str, ...],
                             scope: str, overall_rating: HealthRating,
                             findings: tuple[FindingSpec, ...], provenance: Provenance) -> None:
        """Record a health check and its findings in one append."""
        self._check_not_terminated()
        check_slug(check_id, "health check id")
        self._check_new_id("health check", check_id, self.health_checks)
        if not assessors:
            raise InvalidValue("a health check names its assessors", "/assessors")
        for assessor in assessors:
            check_text(assessor, "assessor", 200)
        check_text(scope, "scope")
        ids = [f.finding_id for f in findings]
        if len(set(ids)) != len(ids):
            repeat = next(n for n, finding_id in enumerate(ids) if finding_id in ids[:n])
            raise InvalidValue("finding ids must be unique", f"/findings/{repeat}/finding_id")
        for n, finding in enumerate(findings):
            self._check_new_id("finding", finding.finding_id, self.findings)
            if finding.due_date < conducted_on:
                raise InvalidValue(f"finding {finding.finding_id} is due before the check",
                                   f"/findings/{n}/due_date")
        self._health_check_conducted(check_id=check_id, conducted_on=conducted_on,
                                     assessors=tuple(assessors), scope=scope,
                                     overall_rating=overall_rating, provenance=provenance)
        for finding in findings:
            self._finding_recorded(check_id=check_id, finding=finding, provenance=provenance)

    @event(HealthCheckConducted)
    def _health_check_conducted(self, check_id: str, conducted_on: date,
                                assessors: tuple[str, ...], scope: str,
                                overall_rating: HealthRating, provenance: Provenance) -> None:
        self.health_checks[check_id] = {
            "check_id": check_id, "conducted_on": conducted_on, "assessors": list(assessors),
            "scope": scope, "overall_rating": overall_rating, "version": self.version + 1}

    @event(FindingRecorded)
    def _finding_recorded(self, check_id: str, finding: FindingSpec,
                          provenance: Provenance) -> None:
        self.findings[finding.finding_id] = {
            **vars(finding), "check_id": check_id,
            "status": "open", "actions": {}, "responses": [], "closure": None,
            "version": self.version + 1}

    def _open_finding(self, finding_id: str) -> dict[str, Any]:
        self._check_not_terminated()
        if finding_id not in self.findings:
            raise UnknownFinding(f"no finding {finding_id!r} on this contract")
        finding = self.findings[finding_id]
        if finding["status"] != "open":
            raise FindingClosed(f"finding {finding_id!r} is {finding['status']}")
        return finding

    class CorrectiveActionPlanned(ContractEvent):
        finding_id: str
        action_id: str
        description: str
        owner: str
        due_date: date

    def plan_corrective_action(self, finding_id: str, action_id: str, description: str,
                               owner: str, due_date: date, provenance: Provenance) -> None:
        """Plan a corrective action for an open finding."""
        finding = self._open_finding(finding_id)
        check_slug(action_id, "action id")
        self._check_new_id("corrective action", action_id, finding["actions"])
        check_text(description, "description")
        check_text(owner, "owner", 200)
        self._corrective_action_planned(finding_id=finding_id, action_id=action_id,
                                        description=description, owner=owner, due_date=due_date,
                                        provenance=provenance)

    @event(CorrectiveActionPlanned)
    def _corrective_action_planned(self, finding_id: str, action_id: str, description: str,
                                   owner: str, due_date: date, provenance: Provenance) -> None:
        self.findings[finding_id]["actions"][action_id] = {
            "action_id": action_id, "description": description, "owner": owner,
            "due_date": due_date, "status": "planned", "updates": [], "completed_on": None}

    def _open_action(self, finding_id: str, action_id: str) -> dict[str, Any]:
        finding = self._open_finding(finding_id)
        if action_id not in finding["actions"]:
            raise UnknownCorrectiveAction(f"no corrective action {action_id!r} on {finding_id}")
        action = finding["actions"][action_id]
        if action["status"] == "completed":
            raise CorrectiveActionClosed(f"corrective action {action_id!r} was completed")
        return action

    class CorrectiveActionUpdated(ContractEvent):
        finding_id: str
        action_id: str
        progress: str
        due_date: date

    def update_corrective_action(self, finding_id: str, action_id: str, progress: str,
                                 due_date: date | None, provenance: Provenance) -> None:
        """Record progress on a corrective action (and possibly a new due date)."""
        action = self._open_action(finding_id, action_id)
        check_text(progress, "progress")
        self._corrective_action_updated(finding_id=finding_id, action_id=action_id,
                                        progress=progress, due_date=due_date or action["due_date"],
                                        provenance=provenance)

    @event(CorrectiveActionUpdated)
    def _corrective_action_updated(self, finding_id: str, action_id: str, progress: str,
                                   due_date: date, provenance: Provenance) -> None:
        action = self.findings[finding_id]["actions"][action_id]
        action["status"] = "in_progress"
        action["due_date"] = due_date
        action["updates"].append(progress)

    class CorrectiveActionCompleted(ContractEvent):
        finding_id: str
        action_id: str
        completed_on: date
        note: str

    def complete_corrective_action(self, finding_id: str, action_id: str, completed_on: date,
                                   note: str, provenance: Provenance) -> None:
        """Complete a corrective action."""
        self._open_action(finding_id, action_id)
        check_text(note, "note")
        self._corrective_action_completed(finding_id=finding_id, action_id=action_id,
                                          completed_on=completed_on, note=note,
                                          provenance=provenance)

    @event(CorrectiveActionCompleted)
    def _corrective_action_completed(self, finding_id: str, action_id: str, completed_on: date,
                                     note: str, provenance: Provenance) -> None:
        action = self.findings[finding_id]["actions"][action_id]
        action["status"] = "completed"
        action["completed_on"] = completed_on
        action["updates"].append(note)

    class FindingResolved(ContractEvent):
        finding_id: str
        evidence: str
        resolved_on: date

    def resolve_finding(self, finding_id: str, evidence: str, resolved_on: date,
                        provenance: Provenance) -> None:
        """Resolve a finding with evidence, once its corrective actions are completed."""
        finding = self._open_finding(finding_id)
        check_text(evidence, "evidence")
        open_actions = [a for a, v in finding["actions"].items() if v["status"] != "completed"]
        if open_actions:
            raise CorrectiveActionsOpen(
                f"complete the corrective actions first: {', '.join(sorted(open_actions))}")
        self._finding_resolved(finding_id=finding_id, evidence=evidence, resolved_on=resolved_on,
                               provenance=provenance)

    @event(FindingResolved)
    def _finding_resolved(self, finding_id: str, evidence: str, resolved_on: date,
                          provenance: Provenance) -> None:
        self.findings[finding_id]["status"] = "resolved"
        self.findings[finding_id]["closure"] = {"evidence": evidence, "on": resolved_on}

    class FindingRiskAccepted(ContractEvent):
        finding_id: str
        approver: str
        reason: str

    def accept_finding_risk(self, finding_id: str, approver: str, reason: str,
                            provenance: Provenance) -> None:
        """Accept a finding as a risk instead of resolving it (approver and reason)."""
        self._open_finding(finding_id)
        check_text(approver, "approver", 200)
        check_text(reason, "reason")
        self._finding_risk_accepted(finding_id=finding_id, approver=approver, reason=reason,
                                    provenance=provenance)

    @event(FindingRiskAccepted)
    def _finding_risk_accepted(self, finding_id: str, approver: str, reason: str,
                               provenance: Provenance) -> None:
        self.findings[finding_id]["status"] = "risk_accepted"
        self.findings[finding_id]["closure"] = {"approver": approver, "reason": reason}

    class FindingResponded(ContractEvent):
        finding_id: str
        response: str

    def respond_to_finding(self, finding_id: str, response: str,
                           provenance: Provenance) -> None:
        """Record the vendor's response to a finding."""
        self._open_finding(finding_id)
        check_text(response, "response")
        self._finding_responded(finding_id=finding_id, response=response, provenance=provenance)

    @event(FindingResponded)
    def _finding_responded(self, finding_id: str, response: str, provenance: Provenance) -> None:
        self.findings[finding_id]["responses"].append(
            {"response": response, "by": provenance.actor_id, "version": self.version + 1})

    class ReviewHeld(ContractEvent):
        review_id: str
        kind: ReviewKind
        held_on: date
        period: str
        attendees: tuple[str, ...]
        decisions: tuple[str, ...]
        scorecard: Scorecard | None

    def hold_review(self, review_id: str, kind: ReviewKind, held_on: date, period: str,
                    attendees: tuple[str, ...], decisions: tuple[str, ...],
                    scorecard: Scorecard | None, provenance: Provenance) -> None:
        """Record a governance review; a scorecard review carries a balanced scorecard."""
        self._check_not_terminated()
        check_slug(review_id, "review id")
        self._check_new_id("review", review_id, self.reviews)
        check_text(period, "period", 50)
        if not attendees:
            raise InvalidValue("a review names its attendees", "/attendees")
        if (kind is ReviewKind.SCORECARD) != (scorecard is not None):
            raise InvalidValue("a scorecard review, and only one, carries a balanced scorecard",
                               "/scorecard")
        self._review_held(review_id=review_id, kind=kind, held_on=held_on, period=period,
                          attendees=tuple(attendees), decisions=tuple(decisions),
                          scorecard=scorecard, provenance=provenance)

    @event(ReviewHeld)
    def _review_held(self, review_id: str, kind: ReviewKind, held_on: date, period: str,
                     attendees: tuple[str, ...], decisions: tuple[str, ...],
                     scorecard: Scorecard | None, provenance: Provenance) -> None:
        self.reviews[review_id] = {
            "review_id": review_id, "kind": kind, "held_on": held_on, "period": period,
            "attendees": list(attendees), "decisions": list(decisions), "scorecard": scorecard,
            "version": self.version + 1}

    class ImprovementProposed(ContractEvent):
        proposal_id: str
        title: str
        expected_benefit: str
        estimated_saving: Money | None

    def propose_improvement(self, proposal_id: str, title: str, expected_benefit: str,
                            estimated_saving: Money | None, provenance: Provenance) -> None:
        """Propose an improvement (vendor or procurement)."""
        self._check_not_terminated()
        check_slug(proposal_id, "proposal id")
        self._check_new_id("proposal", proposal_id, self.proposals)
        check_text(title, "title", 200)
        check_text(expected_benefit, "expected benefit")
        check_saving(estimated_saving)
        self._improvement_proposed(proposal_id=proposal_id, title=title,
                                   expected_benefit=expected_benefit,
                                   estimated_saving=estimated_saving, provenance=provenance)

    @event(ImprovementProposed)
    def _improvement_proposed(self, proposal_id: str, title: str, expected_benefit: str,
                              estimated_saving: Money | None, provenance: Provenance) -> None:
        self.proposals[proposal_id] = {
            "proposal_id": proposal_id, "title": title, "expected_benefit": expected_benefit,
            "estimated_saving": estimated_saving, "proposed_by": provenance.actor_role,
            "status": "proposed", "decision_reason": None, "realised_benefit": None,
            "realised_saving": None, "version": self.version + 1}

    def _proposal(self, proposal_id: str) -> dict[str, Any]:
        self._check_not_terminated()
        if proposal_id not in self.proposals:
            raise UnknownProposal(f"no improvement proposal {proposal_id!r}")
        return self.proposals[proposal_id]

    class ProposalDecided(ContractEvent):
        proposal_id: str
        decision: ProposalDecision
        reason: str

    def decide_proposal(self, proposal_id: str, decision: ProposalDecision, reason: str,
                        provenance: Provenance) -> None:
        """Accept, reject or defer a proposal (a deferred one may be decided again)."""
        proposal = self._proposal(proposal_id)
        if proposal["status"] not in ("proposed", "deferred"):
            raise IllegalProposalTransition(f"a {proposal['status']} proposal cannot be decided")
        check_text(reason, "reason")
        self._proposal_decided(proposal_id=proposal_id, decision=decision, reason=reason,
                               provenance=provenance)

    @event(ProposalDecided)
    def _proposal_decided(self, proposal_id: str, decision: ProposalDecision, reason: str,
                          provenance: Provenance) -> None:
        self.proposals[proposal_id]["status"] = decision.value
        self.proposals[proposal_id]["decision_reason"] = reason

    class ProposalImplemented(ContractEvent):
        proposal_id: str
        realised_benefit: str
        realised_saving: Money | None

    def implement_proposal(self, proposal_id: str, realised_benefit: str,
                           realised_saving: Money | None, provenance: Provenance) -> None:
        """Record that an accepted proposal was implemented, with its realised benefit."""
        proposal = self._proposal(proposal_id)
        if proposal["status"] != "accepted":
            raise IllegalProposalTransition(
                f"only an accepted proposal is implemented; this one is {proposal['status']}")
        check_text(realised_benefit, "realised benefit")
        check_saving(realised_saving)
        self._proposal_implemented(proposal_id=proposal_id, realised_benefit=realised_benefit,
                                   realised_saving=realised_saving, provenance=provenance)

    @event(ProposalImplemented)
    def _proposal_implemented(self, proposal_id: str, realised_benefit: str,
                              realised_saving: Money | None, provenance: Provenance) -> None:
        self.proposals[proposal_id].update(status="implemented",
                                           realised_benefit=realised_benefit,
                                           realised_saving=realised_saving)

    class ProposalWithdrawn(ContractEvent):
        proposal_id: str
        reason: str

    def withdraw_proposal(self, proposal_id: str, reason: str, provenance: Provenance) -> None:
        """Withdraw a proposal nobody has decided yet (a vendor only one a vendor made)."""
        proposal = self._proposal(proposal_id)
        if proposal["status"] != "proposed":
            raise IllegalProposalTransition(
                f"only a proposed proposal is withdrawn; this one is {proposal['status']}")
        if provenance.actor_role == "vendor" and proposal["proposed_by"] != "vendor":
            raise NotTheProposer(
                f"proposal {proposal_id!r} was made by {proposal['proposed_by']}, not the vendor")
        check_text(reason, "reason")
        self._proposal_withdrawn(proposal_id=proposal_id, reason=reason, provenance=provenance)

    @event(ProposalWithdrawn)
    def _proposal_withdrawn(self, proposal_id: str, reason: str, provenance: Provenance) -> None:
        self.proposals[proposal_id].update(status="withdrawn", decision_reason=reason)

    def governance_status(self, as_of: date) -> dict[str, Any]:
        """Return, as of a day, each cadence's last and next date and what is overdue."""
        reference = self.activated_on or self.term.start
        cadences = []
        for cadence in self.cadences.values():
            last = self._last_held(cadence.kind)
            next_due = cadence.next_due(last or reference)
            cadences.append({"kind": cadence.kind.value, "every": cadence.every,
                             "unit": cadence.unit.value, "last_held": last,
                             "next_due": next_due, "overdue": next_due < as_of})
        return {
            "as_of": as_of,
            "cadences": cadences,
            "overdue_health_check": any(c["overdue"] for c in cadences
                                        if c["kind"] == CadenceKind.HEALTH_CHECK.value),
            "overdue_findings": sorted(f for f, v in self.findings.items()
                                       if v["status"] == "open" and v["due_date"] < as_of),
            "overdue_corrective_actions": sorted(
                f"{f}/{a}" for f, v in self.findings.items() for a, action in v["actions"].items()
                if action["status"] != "completed" and action["due_date"] < as_of),
        }

    def _last_held(self, kind: CadenceKind) -> date | None:
        if kind is CadenceKind.HEALTH_CHECK:
            days = [c["conducted_on"] for c in self.health_checks.values()]
        else:
            days = [r["held_on"] for r in self.reviews.values() if r["kind"].value == kind.value]
        return max(days) if days else None
