"""The Loihi 2 target: Intel's figures and the assumptions (:mod:`.figures`),
the parameter rules (:mod:`.rules`), the core map (:mod:`.core_map`), the
design-rule check (:mod:`.check`) and copies side by side (:mod:`.replicas`)."""
