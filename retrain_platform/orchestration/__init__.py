"""How runs are launched and watched on the instance: a run launcher whose worker health run monitoring can check,
per-model run limits, and the in-process replay that drives sensors, automation and runs at simulated times."""
