"""The toy technique: two trivial formats (x,y series), two tables, a view, a quality check, a marts
feature and a dashboard page. Its modules import one another relatively, so that the tests can also
import it from the source tree (``tests.support.toy_technique``) without installing it."""
