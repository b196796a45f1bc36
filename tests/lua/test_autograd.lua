-- Autograd from Lua: .grad accumulation, tau.grad on leaves and intermediates, no_grad,
-- detach, retain_graph, graph_dot, and memory staying bounded over many steps.
local T = ...
tau.manual_seed(11)

T.test("backward accumulates into .grad until zeroed", function()
  local w = tau.tensor{1, 2, 3}:requires_grad()
  T.eq(w.grad, nil)
  T.ok(w.needs_grad and w.is_leaf)
  local function step() ((w * w):sum()):backward() end
  step()
  T.close(w.grad, {2, 4, 6})
  step()
  T.close(w.grad, {4, 8, 12})
  w:zero_grad()
  T.eq(w.grad, nil)
  step()
  T.close(w.grad, {2, 4, 6})
  w.grad = nil
  T.eq(w.grad, nil)
  w.grad = tau.ones(3)
  step()
  T.close(w.grad, {3, 5, 7})
end)

T.test("a leaf used twice gets both contributions", function()
  local x = tau.tensor{2, -1}:requires_grad()
  local y = (x * 3 + x:exp() + x * x):sum()
  y:backward()
  T.close(x.grad, {3 + math.exp(2) + 4, 3 + math.exp(-1) - 2}, 1e-5)
end)

T.test("gradients reach non-contiguous leaves in their own shape", function()
  local w = tau.randn(4, 3):t():requires_grad()
  local x = tau.randn(2, 3)
  x:matmul(w):sum():backward()
  T.eq(table.concat(w.grad:size(), ","), "3,4")
  local want = x:sum(1):view(3, 1):expand(3, 4)
  T.close(w.grad, want, 1e-5)
end)

T.test("backward with an explicit gradient and with retain_graph", function()
  local w = tau.tensor{1, 2}:requires_grad()
  local y = w * w
  y:backward(tau.tensor{1, 10}, {retain_graph = true})
  T.close(w.grad, {2, 40})
  y:backward(tau.tensor{1, 0})
  T.close(w.grad, {4, 40})
  T.raises(function() y:backward(tau.tensor{1, 1}) end, "the graph has already been freed")
  local s = (w * 2):sum()
  s:backward({retain_graph = true})
  s:backward({retain_graph = false})
  T.close(w.grad, {8, 44})
  T.raises(function() s:backward() end, "Tensor:backward: the graph has already been freed")
end)

T.test("a scalar leaf is its own gradient", function()
  local a = tau.tensor(3):requires_grad()
  a:backward()
  T.eq(a.grad:item(), 1)
end)

T.test("tau.grad on leaves and intermediates leaves .grad alone", function()
  local x = tau.tensor{1, 2, 3}:requires_grad()
  local w = tau.tensor{0.5, -1, 2}:requires_grad()
  local h = x * w                -- intermediate
  local z = h:tanh()             -- another intermediate
  local loss = (z * z):sum()
  local g = tau.grad(loss, {x, h, z, w}, {retain_graph = true})
  T.eq(#g, 4)
  local hz, zz = h:totable(), z:totable()
  for i = 1, 3 do
    local dz = 2 * zz[i]
    local dh = dz * (1 - zz[i] ^ 2)
    T.near(g[3][i], dz, 1e-5)
    T.near(g[2][i], dh, 1e-5)
    T.near(g[1][i], dh * w[i], 1e-5)
    T.near(g[4][i], dh * x[i], 1e-5)
  end
  T.eq(x.grad, nil)
  T.eq(w.grad, nil)
  -- an intermediate alone
  local gh = tau.grad(loss, h, {retain_graph = true})
  T.ok(tau.is_tensor(gh), "a single input gives a single gradient")
  T.close(gh, g[2], 1e-6)
  -- an intermediate whose own inputs need nothing
  local y = tau.tensor{1, 2}:requires_grad() * 2
  local gy = tau.grad((y * y):sum(), {y})
  T.close(gy[1], {4, 8})
  -- an input the output does not depend on has a zero gradient
  local u = tau.ones(2):requires_grad()
  local gu = tau.grad(loss, {u})
  T.close(gu[1], {0, 0})
  -- a seed for a non-scalar output
  local v = tau.tensor{1, 2}:requires_grad()
  local gv = tau.grad(v * v, {v}, {grad = tau.tensor{1, -1}})
  T.close(gv[1], {2, -4})
  T.eq(v.grad, nil)
end)

T.test("gradient with respect to an input image through a model", function()
  local img = tau.rand(2, 4):requires_grad()
  local w = tau.randn(4, 3):requires_grad()
  local loss = img:matmul(w):relu():sum()
  local gi = tau.grad(loss, {img})[1]
  T.eq(table.concat(gi:size(), ","), "2,4")
  T.eq(w.grad, nil)
  -- the same through backward
  local loss2 = img:matmul(w):relu():sum()
  loss2:backward()
  T.close(img.grad, gi, 1e-6)
end)

T.test("no_grad records nothing, returns results and restores the mode", function()
  local w = tau.ones(2):requires_grad()
  T.ok(tau.is_grad_enabled())
  local a, b = tau.no_grad(function(k)
    T.ok(not tau.is_grad_enabled())
    local y = w * k
    return y, 42
  end, 3)
  T.eq(b, 42)
  T.ok(not a.needs_grad)
  T.eq(a.grad_fn, nil)
  T.close(a, {3, 3})
  T.ok(tau.is_grad_enabled())
  -- nested
  tau.no_grad(function() tau.no_grad(function() end); T.ok(not tau.is_grad_enabled()) end)
  T.ok(tau.is_grad_enabled())
  -- an error inside restores the mode and propagates
  local ok, err = pcall(tau.no_grad, function() error("boom") end)
  T.ok(not ok and tostring(err):find("boom"))
  T.ok(tau.is_grad_enabled(), "grad mode restored after an error")
  local ok2 = pcall(tau.no_grad, function() return tau.zeros(2) + tau.zeros(3) end)
  T.ok(not ok2)
  T.ok(tau.is_grad_enabled())
  -- set_grad_enabled returns the previous mode
  T.eq(tau.set_grad_enabled(false), true)
  T.ok(not (w * 2).needs_grad)
  T.eq(tau.set_grad_enabled(true), false)
  T.ok((w * 2).needs_grad)
end)

T.test("detach shares storage and cuts the graph", function()
  local w = tau.tensor{1, 2}:requires_grad()
  local y = w * 2
  local d = y:detach()
  T.ok(not d.needs_grad and d.is_leaf)
  local loss = (d * w):sum()
  loss:backward()
  T.close(w.grad, {2, 4}, 1e-6, "d counts as a constant")
  local dw = w:detach()
  dw[1] = 10
  T.eq(w[1], 10, "detach shares storage")
end)

T.test("requires_grad switches, fields and grad_fn names", function()
  local x = tau.zeros(2)
  T.ok(not x.needs_grad)
  T.eq(x:requires_grad(), x)
  T.ok(x.needs_grad)
  x:requires_grad(false)
  T.ok(not x.needs_grad)
  x:requires_grad_(true)
  T.ok(x.needs_grad)
  local y = (x + 1):exp()
  T.eq(y.grad_fn, "exp")
  T.ok(not y.is_leaf)
  T.eq((x:sum()).grad_fn, "sum")
  T.eq(x:view(1, 2).grad_fn, "reshape")
  T.eq(tau.cat{x, x}.grad_fn, "cat")
end)

T.test("comparisons, argmax and int conversion carry no gradient", function()
  local x = tau.randn(3):requires_grad()
  for _, y in ipairs{x:gt(0), x:eq(x), x:argmax(), x:int(), x:isnan()} do
    T.ok(not y.needs_grad, "no grad through a non-differentiable op")
    T.eq(y.grad_fn, nil)
  end
  T.raises(function() x:gt(0):sum():backward() end, "Tensor:backward: the tensor does not require grad and has no grad_fn")
  -- a mix keeps only the differentiable path
  local l = (x * x:gt(0)):sum()
  l:backward()
  local want = {}
  for i = 1, 3 do want[i] = x[i] > 0 and 1 or 0 end
  T.close(x.grad, want)
end)

T.test("graph_dot names the ops and the leaves", function()
  local w = tau.randn(3, 2):requires_grad()
  local x = tau.randn(4, 3)
  local loss = x:matmul(w):relu():mean()
  local dot = tau.graph_dot(loss)
  T.ok(dot:find("^digraph"), dot)
  for _, name in ipairs{"matmul", "relu", "mean", "leaf [3, 2]", "output []"} do
    T.ok(dot:find(name, 1, true), "graph_dot mentions " .. name)
  end
  T.ok(tau.graph_dot(tau.zeros(2)):find("output [2]", 1, true))
end)

T.test("1000 forward/backward steps of a small MLP keep memory bounded", function()
  local w1 = (tau.randn(8, 16) * 0.3):requires_grad()
  local b1 = tau.zeros(16):requires_grad()
  local w2 = (tau.randn(16, 4) * 0.3):requires_grad()
  local x, y = tau.randn(32, 8), tau.randint(1, 4, {32})
  local onehot = tau.one_hot(y, 4)
  local params = {w1, b1, w2}
  local first, worst, loss0, lossN
  for step = 1, 1000 do
    local h = (x:matmul(w1) + b1):tanh()
    local z = h:matmul(w2)
    local lse = z:logsumexp(2, true)
    local loss = -((z - lse) * onehot):sum(2):mean()
    for _, p in ipairs(params) do p:zero_grad() end
    loss:backward()
    tau.no_grad(function() for _, p in ipairs(params) do p:sub_(0.1, p.grad) end end)
    if step == 1 then loss0 = loss:item() end
    lossN = loss:item()
    if step % 100 == 0 then
      collectgarbage()
      local live = tau.memory().live
      if step == 100 then first = live end
      worst = math.max(worst or 0, live)
    end
  end
  T.ok(lossN < loss0, "training lowers the loss")
  T.ok(worst <= first + 64 * 1024, string.format("live bytes grew from %d to %d", first, worst))
end)

T.test("dropping every reference frees the graph's memory", function()
  collectgarbage()
  local before = tau.memory().live
  do
    local w = tau.randn(64, 64):requires_grad()
    local l = w:matmul(w):exp():sum()
    local _ = tau.graph_dot(l)
    -- no backward: the graph itself must not keep anything alive
  end
  collectgarbage()
  collectgarbage()
  T.eq(tau.memory().live, before)
end)

T.test("tau.gradcheck passes true gradients and reports wrong ones", function()
  local x = tau.randn(3):requires_grad()
  T.eq(tau.gradcheck(function(a) return a * a end, {x}), true)
  -- a detached factor makes autograd's gradient half the true one
  local ok, msg = tau.gradcheck(function(a) return a * a:detach() end, {x})
  T.eq(ok, false)
  T.ok(msg:find("tau.gradcheck: input 1, element 1: analytic", 1, true), msg)
  T.raises(function() tau.gradcheck(function(a) return a * a:detach() end, {x}, {raise = true}) end,
           "tau.gradcheck: input 1, element 1")
  -- inputs that do not require grad are passed through unchecked
  T.ok(tau.gradcheck(function(a, b, k) return a * b + k end, {x, tau.randn(3), 2}))
  T.raises(function() tau.gradcheck(5, {x}) end, "tau.gradcheck: argument 1 must be a function")
  T.raises(function() tau.gradcheck(function(a) return a end, x) end, "tau.gradcheck: argument 2 must be a list of inputs")
  T.raises(function() tau.gradcheck(function(a) return a end, {tau.ones(2)}) end, "tau.gradcheck: no input requires grad")
  T.raises(function() tau.gradcheck(function() return 1 end, {x}) end, "tau.gradcheck: fn must return a tensor")
  -- the caller's random stream is left where it was
  tau.manual_seed(9)
  local want = tau.rand(4)
  tau.manual_seed(9)
  tau.gradcheck(function(a) return a:exp() end, {x})
  T.ok(tau.rand(4):equal(want))
end)
