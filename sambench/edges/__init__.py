"""Edge detection on BSDS500: the benchmark evaluator, edge NMS, baselines, HED and the SAM
edge pipeline (SAM paper §7.2, Table 3).

* :mod:`~sambench.edges.evaluation`: ODS / OIS / AP / R50 with the BSDS benchmark's semantics.
* :mod:`~sambench.edges.correspond`: exact ``correspondPixels`` (maximum-weight matching).
* :mod:`~sambench.edges.nms`: thinning and Structured-Edge-style edge NMS.
"""
