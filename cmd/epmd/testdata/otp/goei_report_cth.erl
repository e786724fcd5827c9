%% A common_test hook that prints each test case's outcome on a line of
%% its own, for the Go test that runs epmd_SUITE (otpsuite_test.go):
%%   GOEI-CASE Name ok|failed|skipped Reason
-module(goei_report_cth).
-export([init/2, post_end_per_testcase/5]).

init(_Id, _Opts) ->
    {ok, []}.

post_end_per_testcase(_Suite, TC, Config, Return, State) ->
    {Outcome, Reason} =
        case proplists:get_value(tc_status, Config) of
            ok -> {ok, ""};
            {failed, R} -> {failed, R};
            {skipped, R} -> {skipped, R};
            Other -> {failed, Other}
        end,
    io:format(user, "GOEI-CASE ~w ~w ~0tp~n", [TC, Outcome, Reason]),
    {Return, State}.
