"""How runs are launched and watched on the instance: a run launcher whose worker health run monitoring can check."""
