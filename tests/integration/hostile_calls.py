"""Whole hostile saliency.v1 calls for the fuzz test, built from the strategies of `hostile`."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from hypothesis import strategies as st
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from tests.integration import hostile

MIB = 1024 * 1024
# Unary RPCs that raw bytes are sent to (and the test reads the replies of).
UNARY = ("Predict", "Explain", "Attack", "GetModel", "ListModels")

# Mostly the real model, so that the rest of the request is what gets refused.
MODELS = st.tuples(st.integers(0, 9), hostile.names).map(
    lambda pair: pair[1] if pair[0] == 0 else "shapes"
)


@dataclass(frozen=True)
class Call:
    """One request: the RPC, its serialized message(s), and the status it must get, if known."""

    rpc: str
    payload: bytes | tuple[bytes, ...]
    expect: grpc.StatusCode | None = None


def explain_request(specs: hostile.Specs) -> st.SearchStrategy[pb.ExplainRequest]:
    item = st.builds(
        pb.ExplainItem,
        image=hostile.images,
        targets=st.lists(hostile.small_ints, max_size=3),
        top_k=hostile.small_ints,
    )
    return hostile.for_each_method(
        pb.ExplainMethod.values(), "explain", specs,
        lambda **method: st.builds(
            pb.ExplainRequest,
            model=MODELS,
            items=st.lists(item, max_size=10),
            priority=hostile.INT32,
            **method,
        ),
    )


def attack_request(specs: hostile.Specs) -> st.SearchStrategy[pb.AttackRequest]:
    optional = st.none() | hostile.small_ints
    item = st.builds(
        lambda image, label, target, eps: pb.AttackItem(
            image=image, label=label, target_class=target, eps=eps
        ),
        hostile.images, optional, optional, st.none() | st.floats(),
    )
    return hostile.for_each_method(
        pb.AttackMethod.values(), "attack", specs,
        lambda **method: st.builds(
            pb.AttackRequest, model=MODELS, items=st.lists(item, max_size=10), **method
        ),
    )


def evaluate_request(specs: hostile.Specs) -> st.SearchStrategy[pb.EvaluateRequest]:
    attack = hostile.for_each_method(
        pb.AttackMethod.values(), "attack", specs, lambda **m: st.builds(pb.AttackSpec, **m)
    )
    stability = st.sampled_from(pb.ExplainMethod.values()) | hostile.INT32
    item = st.builds(pb.LabelledImage, image=hostile.images, label=hostile.small_ints)
    return st.builds(
        pb.EvaluateRequest,
        model=MODELS,
        items=st.lists(item, max_size=3),
        attacks=st.lists(attack, max_size=2),
        epsilons=st.lists(st.floats(), max_size=3),
        stability_methods=st.lists(stability, max_size=2),
    )


def calls(specs: hostile.Specs) -> st.SearchStrategy[Call]:
    """Every kind of hostile call, typed requests weighted over raw and oversized ones."""
    explain = explain_request(specs)
    stream = st.lists(
        st.builds(pb.ExplainStreamRequest, request_id=st.text(max_size=8), request=explain),
        max_size=3,
    ).map(lambda ms: Call("ExplainStream", tuple(m.SerializeToString() for m in ms)))
    typed = [
        explain.map(lambda r: Call("Explain", r.SerializeToString())),
        attack_request(specs).map(lambda r: Call("Attack", r.SerializeToString())),
        st.builds(pb.PredictRequest, model=MODELS,
                  images=st.lists(hostile.images, max_size=10), top_k=hostile.small_ints)
        .map(lambda r: Call("Predict", r.SerializeToString())),
        st.builds(pb.GetModelRequest, name=hostile.names)
        .map(lambda r: Call("GetModel", r.SerializeToString())),
        stream,
        evaluate_request(specs).map(lambda r: Call("Evaluate", r.SerializeToString())),
    ]
    raw = st.one_of(
        st.tuples(st.sampled_from([*UNARY, "Evaluate", "Assess"]), st.binary(max_size=1024)).map(
            lambda pair: Call(pair[0], pair[1])
        ),
        st.lists(st.binary(max_size=256), max_size=3).map(
            lambda messages: Call("ExplainStream", tuple(messages))
        ),
    )
    # Refused on size before it is parsed, whatever the RPC.
    rpcs = st.sampled_from(["Explain", "Attack", "Predict"])
    oversized = st.tuples(rpcs, st.integers(1, MIB)).map(
        lambda pair: Call(pair[0], b"\0" * (MIB + pair[1]), grpc.StatusCode.RESOURCE_EXHAUSTED)
    )
    # sampled_from weights the kinds; hypothesis's one_of drifts towards a few branches.
    kinds = [oversized, raw, *typed, raw, *typed, oversized, *typed]
    return st.sampled_from(kinds).flatmap(lambda kind: kind)
