%% A stand-in for OTP's ts_install_cth, the common_test hook that
%% epmd_SUITE asks for in suite/0. OTP's own comes with its test server,
%% which OTP installations leave out; epmd_SUITE needs nothing from it.
-module(ts_install_cth).
-export([init/2]).

init(_Id, _Opts) ->
    {ok, []}.
