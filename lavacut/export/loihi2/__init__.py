"""The Loihi 2 target: the design-rule check and core map (:mod:`.check`),
copies side by side (:mod:`.replicas`)."""
