"""A view folds exactly the events it has a fold handler for: its topics are derived from
the handlers, so a handler is never left without its events, nor an event subscribed to
without a handler."""

from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatchmethod
from typing import Any

import pytest
from eventsourcing.utils import get_topic

from domain.contract import Contract
from projections.audit import AuditProjection
from projections.base import LedgerProjection
from projections.contracts import ContractsProjection
from projections.scorecard import ScorecardProjection
from projections.session import Rows

CONTRACT_EVENTS = [member for member in vars(Contract).values()
                   if isinstance(member, type) and issubclass(member, Contract.Event)]


def has_handler(event_class: type) -> bool:
    dispatcher = ScorecardProjection.__dict__["fold"].dispatcher
    return dispatcher.dispatch(event_class) is not dispatcher.dispatch(object)


class TestTheScorecard:
    def test_subscribes_to_an_event_if_and_only_if_it_has_a_handler_for_it(self) -> None:
        for event_class in CONTRACT_EVENTS:
            assert (get_topic(event_class) in ScorecardProjection.topics) == \
                has_handler(event_class), event_class.__qualname__

    def test_folds_the_events_behind_compliance_credits_findings_and_reviews(self) -> None:
        assert sorted(topic.rsplit(".", 1)[-1] for topic in ScorecardProjection.topics) == [
            "ContractDrafted", "DisputeResolved", "FindingRecorded", "FindingResolved",
            "FindingRiskAccepted", "IncentiveEarned", "IncentiveReversed",
            "PenaltyAssessed", "PenaltyDisputed", "PenaltyEarnedBack", "PenaltyReversed",
            "PenaltyWaived", "ReviewHeld", "SlaBreached", "SlaMet", "TermsAmended"]


class TestViewsWithOneFoldForEveryEvent:
    @pytest.mark.parametrize("projection", [AuditProjection, ContractsProjection])
    def test_subscribe_to_every_event(self, projection: type[LedgerProjection[Any]]) -> None:
        assert projection.topics == ()


class TestDerivedTopics:
    def test_are_those_of_the_events_with_a_handler(self) -> None:
        class Drafts(LedgerProjection[Any]):
            @singledispatchmethod
            def fold(self, event: Any, rows: Mapping[str, Rows]) -> None:
                pass

            @fold.register
            def _(self, event: Contract.ContractDrafted, rows: Mapping[str, Rows]) -> None:
                pass

            @fold.register
            def _(self, event: Contract.ReviewHeld, rows: Mapping[str, Rows]) -> None:
                pass

        assert Drafts.topics == (get_topic(Contract.ContractDrafted),
                                 get_topic(Contract.ReviewHeld))

    def test_include_the_subclasses_a_handler_for_a_base_class_takes(self) -> None:
        class Base:  # not a Contract event: the contract's event classes stay as they are
            pass

        class Special(Base):
            pass

        class Everything(LedgerProjection[Any]):
            @singledispatchmethod
            def fold(self, event: Any, rows: Mapping[str, Rows]) -> None:
                pass

            @fold.register(Base)  # a local class: annotations cannot name it
            def _(self, event: Any, rows: Mapping[str, Rows]) -> None:
                pass

        assert set(Everything.topics) == {get_topic(Base), get_topic(Special)}

    def test_cannot_also_be_listed_by_hand(self) -> None:
        with pytest.raises(TypeError, match="topics follow its fold handlers"):
            class Listed(LedgerProjection[Any]):
                topics = (get_topic(Contract.ContractDrafted),)

                @singledispatchmethod
                def fold(self, event: Any, rows: Mapping[str, Rows]) -> None:
                    pass
