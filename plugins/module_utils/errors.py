# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's error types.

Every error a user can cause names the option it is about, the value that was
given and what would be valid, so a module can report it without guessing.
Errors raised by the kernel or a tool carry the command or request that failed.
"""

from __future__ import annotations


class NetkitError(Exception):
    """Base class of every error this collection raises on purpose."""

    def __init__(self, msg, **details):
        super(NetkitError, self).__init__(msg)
        self.msg = msg
        self.details = details

    def __str__(self):
        return self.msg


class ValidationError(NetkitError):
    """Bad input: raised before anything on the host is changed."""

    def __init__(self, option, msg, value=None, allowed=None):
        # the problem without what is allowed, for callers that name it again under a prefix
        self.problem = "%s: %s" % (option, msg) if option else msg
        text = self.problem
        if allowed is not None:
            text = "%s (allowed: %s)" % (text, allowed)
        super(ValidationError, self).__init__(text, option=option, value=value, allowed=allowed)
        self.option = option
        self.value = value
        self.allowed = allowed


class UnsupportedError(NetkitError):
    """The kernel, the NIC or a tool lacks a feature; says what would provide it."""

    def __init__(self, feature, msg, provided_by=None):
        text = msg
        if provided_by:
            text = "%s; %s" % (text, provided_by)
        super(UnsupportedError, self).__init__(text, feature=feature, provided_by=provided_by)
        self.feature = feature
        self.provided_by = provided_by


class KernelError(NetkitError):
    """A request to the kernel or a tool failed while applying a change."""

    def __init__(self, msg, command=None, errno=None, stderr=None):
        super(KernelError, self).__init__(msg, command=command, errno=errno, stderr=stderr)
        self.command = command
        self.errno = errno
        self.stderr = stderr
