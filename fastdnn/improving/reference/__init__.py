"""The Course 2 helper modules and graded functions in the course's own plain NumPy.

The tests' oracle and the benchmarks' baseline, as ``fastdnn.course.reference`` is for
Course 1: ``init_utils``, ``reg_utils``, ``gc_utils`` and ``opt_utils`` (the course's
``opt_utils_v1a``) hold each helper module's functions with the notebook's graded
solutions beside them, and ``notebooks`` the four notebooks' ``model`` loops written
against a namespace, so that the same loop runs on these modules or on fastdnn's (the
import swap). Plots are left out; ``np.int`` (gone from NumPy 1.24) is ``int``.
"""
