"""The "lite" backend's numpy side: BlazePose landmarks to SMPL motion by analytic IK."""
