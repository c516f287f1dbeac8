"""The Spark settings preproc starts its session with: the JIT flag joins the user's JVM options, never replaces them."""

from __future__ import annotations

from preproc.session import effective_conf


def test_jit_flag_is_added_to_the_users_java_options():
    conf = effective_conf({"spark.driver.extraJavaOptions": "-Xss4m", "spark.driver.memory": "8g"})
    assert conf["spark.driver.extraJavaOptions"].split() == ["-Xss4m", "-XX:-DontCompileHugeMethods"]
    assert conf["spark.executor.extraJavaOptions"] == "-XX:-DontCompileHugeMethods"
    assert conf["spark.driver.memory"] == "8g"


def test_a_users_own_choice_of_the_flag_wins():
    conf = effective_conf({"spark.executor.extraJavaOptions": "-XX:+DontCompileHugeMethods"})
    assert conf["spark.executor.extraJavaOptions"] == "-XX:+DontCompileHugeMethods"
