"""The driver JVM's options keep the user's (params.yaml compute.spark.conf) and add conveyor's
logging configuration, unless the user names one."""

from __future__ import annotations

from conveyor.compute.session import LOG_CONFIG, driver_java_options

OURS = f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"


def test_no_options_of_the_users_gives_the_logging_configuration() -> None:
    assert driver_java_options("") == OURS


def test_the_users_options_are_kept_before_ours() -> None:
    assert driver_java_options("-Xss4m -Dfoo=1") == f"-Xss4m -Dfoo=1 {OURS}"


def test_a_logging_configuration_of_the_users_is_left_alone() -> None:
    theirs = "-Dlog4j2.configurationFile=file:///etc/spark/log4j2.properties -Xss4m"
    assert driver_java_options(theirs) == theirs
