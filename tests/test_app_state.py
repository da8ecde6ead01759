"""`app.state` keeps attributes where Python finds them first, and stays a Starlette `State`."""

from starlette.datastructures import State

from backend.app_state import AppState


def test_attributes_and_items_are_one_view_of_the_state() -> None:
    state = AppState({"settings": "given at creation"})
    state.runner = "set as an attribute"
    state["limiter"] = "set as an item"

    assert isinstance(state, State)
    assert {key: state[key] for key in state} == {
        "settings": "given at creation",
        "runner": "set as an attribute",
        "limiter": "set as an item",
    }
    assert (state.settings, state.runner, state.limiter) == (
        "given at creation",
        "set as an attribute",
        "set as an item",
    )

    del state.runner
    del state["limiter"]

    assert list(state) == ["settings"]
    assert not hasattr(state, "runner")
    assert not hasattr(state, "limiter")
