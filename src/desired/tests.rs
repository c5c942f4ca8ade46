//! Unit tests of the loader: conversion, checks and hostile input.
use super::*;
