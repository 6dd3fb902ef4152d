"""The four notebooks' ``model`` loops, as the notebooks write them, on a namespace.

``ns`` is the module the notebook's ``from ... import *`` fills its globals from: this
package's reference modules, or fastdnn's drop-ins (``fastdnn.initialization``, ...): the
same loop, only the import swapped. The notebooks' cost plots are left out; each returns
``(parameters, costs)`` (the notebook returns ``parameters`` and plots ``costs``).
"""


def initialization_model(
    ns, X, Y, learning_rate=0.01, num_iterations=15000, print_cost=True, initialization="he"
):
    costs = []
    layers_dims = [X.shape[0], 10, 5, 1]
    if initialization == "zeros":
        parameters = ns.initialize_parameters_zeros(layers_dims)
    elif initialization == "random":
        parameters = ns.initialize_parameters_random(layers_dims)
    elif initialization == "he":
        parameters = ns.initialize_parameters_he(layers_dims)
    for i in range(num_iterations):
        a3, cache = ns.forward_propagation(X, parameters)
        cost = ns.compute_loss(a3, Y)
        grads = ns.backward_propagation(X, Y, cache)
        parameters = ns.update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 1000 == 0:
            print(f"Cost after iteration {i}: {cost}")
            costs.append(cost)
    return parameters, costs


def regularization_model(
    ns, X, Y, learning_rate=0.3, num_iterations=30000, print_cost=True, lambd=0, keep_prob=1
):
    costs = []
    layers_dims = [X.shape[0], 20, 3, 1]
    parameters = ns.initialize_parameters(layers_dims)
    for i in range(0, num_iterations):
        if keep_prob == 1:
            a3, cache = ns.forward_propagation(X, parameters)
        elif keep_prob < 1:
            a3, cache = ns.forward_propagation_with_dropout(X, parameters, keep_prob)
        if lambd == 0:
            cost = ns.compute_cost(a3, Y)
        else:
            cost = ns.compute_cost_with_regularization(a3, Y, parameters, lambd)
        assert lambd == 0 or keep_prob == 1
        if lambd == 0 and keep_prob == 1:
            grads = ns.backward_propagation(X, Y, cache)
        elif lambd != 0:
            grads = ns.backward_propagation_with_regularization(X, Y, cache, lambd)
        elif keep_prob < 1:
            grads = ns.backward_propagation_with_dropout(X, Y, cache, keep_prob)
        parameters = ns.update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 10000 == 0:
            print(f"Cost after iteration {i}: {cost}")
        if print_cost and i % 1000 == 0:
            costs.append(cost)
    return parameters, costs


def optimization_model(
    ns, X, Y, layers_dims, optimizer, learning_rate=0.0007, mini_batch_size=64, beta=0.9,
    beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000, print_cost=True, decay=None,
    decay_rate=1,
):  # fmt: skip
    costs = []
    t = 0
    seed = 10
    m = X.shape[1]
    learning_rate0 = learning_rate
    parameters = ns.initialize_parameters(layers_dims)
    if optimizer == "gd":
        pass
    elif optimizer == "momentum":
        v = ns.initialize_velocity(parameters)
    elif optimizer == "adam":
        v, s = ns.initialize_adam(parameters)
    for i in range(num_epochs):
        seed = seed + 1
        minibatches = ns.random_mini_batches(X, Y, mini_batch_size, seed)
        cost_total = 0
        for minibatch in minibatches:
            (minibatch_X, minibatch_Y) = minibatch
            a3, caches = ns.forward_propagation(minibatch_X, parameters)
            cost_total += ns.compute_cost(a3, minibatch_Y)
            grads = ns.backward_propagation(minibatch_X, minibatch_Y, caches)
            if optimizer == "gd":
                parameters = ns.update_parameters_with_gd(parameters, grads, learning_rate)
            elif optimizer == "momentum":
                parameters, v = ns.update_parameters_with_momentum(
                    parameters, grads, v, beta, learning_rate
                )
            elif optimizer == "adam":
                t = t + 1
                parameters, v, s, _, _ = ns.update_parameters_with_adam(
                    parameters, grads, v, s, t, learning_rate, beta1, beta2, epsilon
                )
        cost_avg = cost_total / m
        if decay:
            learning_rate = decay(learning_rate0, i, decay_rate)
        if print_cost and i % 1000 == 0:
            print("Cost after epoch %i: %f" % (i, cost_avg))
            if decay:
                print("learning rate after epoch %i: %f" % (i, learning_rate))
        if print_cost and i % 100 == 0:
            costs.append(cost_avg)
    return parameters, costs
