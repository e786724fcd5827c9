%% goei_bench is the erl side of goei's distribution benchmarks. start/0
%% registers four servers on the node under test; the other functions
%% run on a second erl node, called by rpc, and do there what the Go
%% benchmark and the C-node do, so that erl -> erl is measured alike.
%% Times are nanoseconds.
-module(goei_bench).
-behaviour(gen_server).
-export([start/0, recv/4, send/3, ping/2, connect/2, ping_during/2, calls/2,
         id/1, erpc_calls/2, erpc_par/3]).
-export([init/1, handle_call/3, handle_cast/2]).

start() ->
    register(bench, spawn(fun sender/0)),
    register(sink, spawn(fun sink/0)),
    register(echo, spawn(fun echo/0)),
    {ok, _} = gen_server:start({local, gs}, ?MODULE, [], []),
    ok.

%% gs: a gen_server answering the call ping with pong.
init([]) -> {ok, nostate}.
handle_call(ping, _From, S) -> {reply, pong, S}.
handle_cast(_, S) -> {noreply, S}.

%% sender: {From, To, N, Size} sends {msg, I, Bin} to To N times, Bin a
%% Size-byte binary, then done to From.
sender() ->
    receive
        {From, To, N, Size} ->
            send_msgs(N, To, binary:copy(<<0>>, Size)),
            From ! done
    end,
    sender().

send_msgs(0, _, _) -> ok;
send_msgs(I, To, Bin) ->
    To ! {msg, I, Bin},
    send_msgs(I - 1, To, Bin).

%% sink: {count, From, N} takes the next N messages, then sends
%% {counted, N} to From.
sink() ->
    receive
        {count, From, N} ->
            drain(N),
            From ! {counted, N}
    end,
    sink().

drain(0) -> ok;
drain(N) -> receive _ -> drain(N - 1) end.

%% echo: {ping, From, I} is answered with {pong, I}.
echo() ->
    receive
        {ping, From, I} -> From ! {pong, I}
    end,
    echo().

%% recv(Node, N, Size, Work) has Node's sender send N messages here,
%% spinning for Work nanoseconds after each.
recv(Node, N, Size, Work) ->
    T0 = erlang:monotonic_time(),
    {bench, Node} ! {self(), self(), N, Size},
    recv_msgs(N, Work),
    receive done -> ok end,
    since(T0).

recv_msgs(0, _) -> ok;
recv_msgs(N, Work) ->
    receive {msg, _, _} -> spin(Work), recv_msgs(N - 1, Work) end.

spin(0) -> ok;
spin(Work) -> spin_until(erlang:monotonic_time(nanosecond) + Work).

spin_until(Until) ->
    case erlang:monotonic_time(nanosecond) < Until of
        true -> spin_until(Until);
        false -> ok
    end.

%% send(Node, N, Size) sends N messages to Node's sink.
send(Node, N, Size) ->
    Bin = binary:copy(<<0>>, Size),
    T0 = erlang:monotonic_time(),
    {sink, Node} ! {count, self(), N},
    send_msgs(N, {sink, Node}, Bin),
    receive {counted, N} -> ok end,
    since(T0).

%% ping(Node, N) makes N round trips with Node's echo and returns
%% {Elapsed, [RoundTrip]}.
ping(Node, N) ->
    T0 = erlang:monotonic_time(),
    Lats = [ping_once(Node, I) || I <- lists:seq(1, N)],
    {since(T0), Lats}.

ping_once(Node, I) ->
    T0 = erlang:monotonic_time(),
    {echo, Node} ! {ping, self(), I},
    receive {pong, I} -> since(T0) end.

%% connect(Node, N) connects to Node as a hidden node and disconnects, N
%% times, and returns the time spent.
connect(Node, N) ->
    erlang:disconnect_node(Node),
    connect_loop(Node, N, 0).

connect_loop(_, 0, Spent) -> Spent;
connect_loop(Node, N, Spent) ->
    T0 = erlang:monotonic_time(),
    true = net_kernel:hidden_connect_node(Node),
    true = erlang:disconnect_node(Node),
    connect_loop(Node, N - 1, Spent + since(T0)).

%% ping_during(Node, Size) sends a Size-byte binary to Node's sink from one
%% process and makes round trips with Node's echo from another until the
%% sink has it. It returns {Elapsed, [RoundTrip]}.
ping_during(Node, Size) ->
    Self = self(),
    Bin = binary:copy(<<0>>, Size),
    T0 = erlang:monotonic_time(),
    spawn_link(fun() ->
                       {sink, Node} ! {count, self(), 1},
                       {sink, Node} ! {big, Bin},
                       receive {counted, 1} -> Self ! big_done end
               end),
    Lats = ping_until_done(Node, 1, []),
    {since(T0), Lats}.

ping_until_done(Node, I, Acc) ->
    receive
        big_done -> lists:reverse(Acc)
    after 0 ->
            ping_until_done(Node, I + 1, [ping_once(Node, I) | Acc])
    end.

%% calls(Node, N) makes N gen_server calls of ping to Node's gs, one at a
%% time.
calls(Node, N) ->
    T0 = erlang:monotonic_time(),
    call_n({gs, Node}, N),
    since(T0).

call_n(_, 0) -> ok;
call_n(Server, N) ->
    pong = gen_server:call(Server, ping),
    call_n(Server, N - 1).

%% id(X) returns X: the function the erpc benchmarks call.
id(X) -> X.

%% erpc_calls(Node, N) makes N erpc calls of goei_bench:id/1 on Node, one
%% at a time.
erpc_calls(Node, N) ->
    T0 = erlang:monotonic_time(),
    erpc_n(Node, N),
    since(T0).

erpc_n(_, 0) -> ok;
erpc_n(Node, N) ->
    N = erpc:call(Node, goei_bench, id, [N]),
    erpc_n(Node, N - 1).

%% erpc_par(Node, N, P) makes N erpc calls of goei_bench:id/1 on Node from
%% P processes at once.
erpc_par(Node, N, P) ->
    Self = self(),
    T0 = erlang:monotonic_time(),
    Pids = [spawn_link(fun() ->
                               erpc_n(Node, N * (K + 1) div P - N * K div P),
                               Self ! {done, self()}
                       end) || K <- lists:seq(0, P - 1)],
    [receive {done, Pid} -> ok end || Pid <- Pids],
    since(T0).

since(T0) ->
    erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond).
