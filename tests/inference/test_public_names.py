"""The inference loader users import from the package."""


def test_inference_loader_at_the_package():
    from motionvla.inference import Policy, make_policy
    from motionvla.inference.factory import make_policy as factory_make_policy
    from motionvla.inference.interface import Policy as interface_policy

    assert (Policy, make_policy) == (interface_policy, factory_make_policy)
