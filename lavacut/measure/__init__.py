"""Stage 5, measure: stop rules, calibration, evaluation reports and plots."""
